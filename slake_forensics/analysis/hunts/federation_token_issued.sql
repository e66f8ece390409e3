-- GetFederationToken: an IAM user mints federated-user sessions that survive the deletion of its access key.
WITH tokens AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           http_request.user_agent AS user_agent,
           api.operation AS operation,
           status,
           api.response.error AS error,
           json_extract_scalar(api.request.data, '$.name') AS federated_name,
           regexp_like(COALESCE(json_extract_scalar(api.request.data, '$.policy'), ''), '"Action"\s*:\s*"\*"') AS policy_allows_all_actions,
           json_extract_scalar(api.response.data, '$.credentials.accessKeyId') AS issued_key
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.operation = 'GetFederationToken'
      AND (:include_failures OR status = 'Success')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
),
federated AS (
    SELECT actor.user.credential_uid AS key,
           count(*) AS calls,
           array_sort(array_agg(DISTINCT api.operation)) AS operations,
           array_sort(array_agg(DISTINCT src_endpoint.ip)) AS ips
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND actor.user.type = 'FederatedUser'
    GROUP BY actor.user.credential_uid
)
SELECT t.time_dt,
       t.uid AS "metadata.uid",
       t.accountid,
       t.region,
       t.principal AS "actor.user.uid",
       t.credential_uid AS "actor.user.credential_uid",
       t.ip AS "src_endpoint.ip",
       t.user_agent AS "http_request.user_agent",
       t.operation AS "api.operation",
       t.status,
       t.error AS "api.response.error",
       t.federated_name,
       t.policy_allows_all_actions,
       t.issued_key,
       COALESCE(f.calls, 0) AS issued_key_calls,
       f.operations AS issued_key_operations,
       f.ips AS issued_key_ips
FROM tokens t
LEFT JOIN federated f ON f.key = t.issued_key
ORDER BY t.time_dt
