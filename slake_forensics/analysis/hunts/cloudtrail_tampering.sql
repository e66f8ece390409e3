-- Attempts to stop, delete or narrow CloudTrail logging.
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
       COALESCE(json_extract_scalar(api.request.data, '$.name'),
                json_extract_scalar(api.request.data, '$.trailName'),
                json_extract_scalar(api.request.data, '$.eventDataStore')) AS trail
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND api.operation IN ('StopLogging', 'DeleteTrail', 'PutEventSelectors', 'UpdateTrail',
                        'PutInsightSelectors', 'DeleteEventDataStore', 'StopEventDataStoreIngestion',
                        'UpdateEventDataStore')
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
