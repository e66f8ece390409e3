-- Every API call or console sign-in made with the root user's credentials.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.type AS "actor.user.type",
       actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       http_request.user_agent AS "http_request.user_agent",
       api.service.name AS "api.service.name",
       api.operation AS "api.operation",
       status,
       api.response.error AS "api.response.error"
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND actor.user.type = 'Root'
  AND actor.invoked_by IS NULL
  AND NOT COALESCE(api.operation IN (:ignore_operations), false)
ORDER BY time_dt
