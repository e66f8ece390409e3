-- Commands run on, or interactive shells opened to, instances through SSM Run Command / Session Manager.
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
       json_extract_scalar(api.request.data, '$.documentName') AS document,
       array_sort(array_distinct(regexp_extract_all(COALESCE(api.request.data, ''), '(?i)\bi-[0-9a-f]{8,17}\b'))) AS targets
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND COALESCE(api.operation IN (:operations), false)
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
  AND NOT COALESCE(json_extract_scalar(api.request.data, '$.documentName') IN (:ignore_documents), false)
ORDER BY time_dt
