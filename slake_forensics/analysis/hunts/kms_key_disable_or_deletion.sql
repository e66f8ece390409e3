-- KMS keys disabled, scheduled for deletion or stripped of imported key material.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       api.operation AS "api.operation",
       status,
       json_extract_scalar(api.request.data, '$.keyId') AS key_id,
       json_extract_scalar(api.request.data, '$.pendingWindowInDays') AS pending_window_days
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND api.operation IN ('DisableKey', 'ScheduleKeyDeletion', 'DeleteImportedKeyMaterial')
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
