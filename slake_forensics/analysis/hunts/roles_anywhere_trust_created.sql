-- IAM Roles Anywhere trust anchors and profiles created or changed: an outside CA can then mint role sessions.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.type AS "actor.user.type",
       actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       http_request.user_agent AS "http_request.user_agent",
       api.operation AS "api.operation",
       status,
       api.response.error AS "api.response.error",
       json_extract_scalar(api.request.data, '$.name') AS name,
       json_extract_scalar(api.request.data, '$.source.sourceType') AS source_type,
       array_sort(array_distinct(regexp_extract_all(COALESCE(api.request.data, ''), 'arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+'))) AS role_arns
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND COALESCE(api.operation IN (:operations), false)
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
