-- Successful console sign-ins whose session has no MFA.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.type AS "actor.user.type",
       actor.user.uid AS "actor.user.uid",
       actor.user.name AS "actor.user.name",
       src_endpoint.ip AS "src_endpoint.ip",
       http_request.user_agent AS "http_request.user_agent",
       dst_endpoint.svc_name AS "dst_endpoint.svc_name",
       status
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND class_uid = 3002
  AND COALESCE(api.operation, 'ConsoleLogin') = 'ConsoleLogin'
  AND status = 'Success'
  AND NOT COALESCE(is_mfa, actor.session.is_mfa, false)
  AND (:include_federated OR actor.user.type IN ('IAMUser', 'Root'))
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
