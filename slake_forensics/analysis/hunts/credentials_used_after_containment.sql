-- Access keys still used after they were deactivated or deleted.
WITH contained AS (
    SELECT json_extract_scalar(api.request.data, '$.accessKeyId') AS access_key,
           min(time_dt) AS contained_time_dt
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND ((api.operation = 'UpdateAccessKey' AND lower(json_extract_scalar(api.request.data, '$.status')) = 'inactive')
           OR api.operation = 'DeleteAccessKey')
    GROUP BY json_extract_scalar(api.request.data, '$.accessKeyId')
)
SELECT e.actor.user.credential_uid AS "actor.user.credential_uid",
       e.actor.user.uid AS "actor.user.uid",
       e.src_endpoint.ip AS "src_endpoint.ip",
       arbitrary(c.contained_time_dt) AS contained_time_dt,
       min(e.time_dt) AS first_time_dt,
       max(e.time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE e.status = 'Success') AS successes,
       slice(array_sort(array_agg(DISTINCT e.api.operation)), 1, 25) AS sample_operations,
       slice(array_sort(array_agg(DISTINCT e.api.response.error)), 1, 10) AS errors
FROM {table:cloud_trail_mgmt} e
JOIN contained c ON c.access_key = e.actor.user.credential_uid
WHERE e.time_dt >= from_iso8601_timestamp(:start)
  AND e.time_dt < from_iso8601_timestamp(:end)
  AND e.time_dt > c.contained_time_dt + :grace_minutes * INTERVAL '1' MINUTE
GROUP BY e.actor.user.credential_uid, e.actor.user.uid, e.src_endpoint.ip
ORDER BY first_time_dt
