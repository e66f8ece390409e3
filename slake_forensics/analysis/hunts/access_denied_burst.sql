-- Bursts of authorization failures by one principal: a stolen credential probing what it may do.
WITH denied AS (
    SELECT COALESCE(actor.user.uid, actor.user.credential_uid, src_endpoint.ip) AS principal,
           floor(to_unixtime(time_dt) / 600) AS bucket,
           time_dt,
           accountid,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           api.service.name AS service
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.response.error IN (:error_codes)
),
bursts AS (
SELECT principal AS "actor.user.uid",
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT operation) AS operations,
       count(DISTINCT service) AS services,
       slice(array_sort(array_agg(DISTINCT operation)), 1, 25) AS sample_operations,
       array_sort(array_agg(DISTINCT ip)) AS ips,
       array_sort(array_agg(DISTINCT credential_uid)) AS credential_uids,
       array_sort(array_agg(DISTINCT accountid)) AS accounts
FROM denied
GROUP BY principal, bucket
)
SELECT *
FROM bursts
WHERE events >= :min_denied
  AND operations >= :min_distinct_operations
ORDER BY first_time_dt
