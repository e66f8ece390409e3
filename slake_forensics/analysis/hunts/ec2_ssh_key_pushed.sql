-- SSH keys pushed to instances through EC2 Instance Connect or the EC2 serial console (and serial console enabled).
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
       json_extract_scalar(api.request.data, '$.instanceId') AS instance_id,
       json_extract_scalar(api.request.data, '$.instanceOSUser') AS os_user,
       regexp_extract(COALESCE(api.request.data, ''), '"sSHPublicKey"\s*:\s*"([a-z0-9-]+) ', 1) AS key_type
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND COALESCE(api.operation IN (:operations), false)
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
