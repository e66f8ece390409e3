-- GuardDuty, Security Hub, Config, Macie, Access Analyzer or Detective switched off or muted.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.type AS "actor.user.type",
       actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       api.service.name AS "api.service.name",
       api.operation AS "api.operation",
       status,
       api.response.error AS "api.response.error"
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND (:include_failures OR status = 'Success')
  AND (COALESCE(api.operation IN (:operations), false)
       OR (api.operation = 'UpdateDetector' AND lower(json_extract_scalar(api.request.data, '$.enable')) = 'false')
       OR (api.operation = 'CreateFilter' AND api.service.name = 'guardduty.amazonaws.com'
           AND upper(json_extract_scalar(api.request.data, '$.action')) = 'ARCHIVE'))
ORDER BY time_dt
