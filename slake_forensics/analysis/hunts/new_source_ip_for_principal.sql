-- Principals calling from a public IP they never used before, after an established history.
WITH calls AS (
    SELECT COALESCE(actor.user.uid, actor.user.credential_uid) AS principal,
           src_endpoint.ip AS ip,
           time_dt,
           accountid,
           actor.user.credential_uid AS credential_uid,
           api.operation AS operation,
           http_request.user_agent AS user_agent,
           status
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND actor.user.type IN ('IAMUser', 'AssumedRole', 'Root', 'FederatedUser')
      AND regexp_like(src_endpoint.ip, '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$')
      AND NOT regexp_like(src_endpoint.ip, '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|f[cd]|fe80)')
),
ordered AS (
    SELECT calls.*,
           row_number() OVER (PARTITION BY principal ORDER BY time_dt) AS ordinal,
           min(time_dt) OVER (PARTITION BY principal) AS principal_first_dt
    FROM calls
),
pairs AS (
    SELECT principal AS "actor.user.uid",
           ip AS "src_endpoint.ip",
           min(time_dt) AS first_time_dt,
           max(time_dt) AS last_time_dt,
           count(*) AS events,
           count(*) FILTER (WHERE status = 'Success') AS successes,
           min(ordinal) - 1 AS prior_calls,
           round((to_unixtime(min(time_dt)) - to_unixtime(arbitrary(principal_first_dt))) / 3600.0, 1) AS history_hours,
           slice(array_sort(array_agg(DISTINCT operation)), 1, 25) AS sample_operations,
           array_sort(array_agg(DISTINCT user_agent)) AS user_agents,
           array_sort(array_agg(DISTINCT credential_uid)) AS credential_uids,
           array_sort(array_agg(DISTINCT accountid)) AS accounts
    FROM ordered
    GROUP BY principal, ip
)
SELECT *
FROM pairs
WHERE first_time_dt >= from_iso8601_timestamp(:start)
  AND prior_calls >= :min_baseline_events
  AND history_hours >= :min_history_hours
  AND events >= :min_events
ORDER BY first_time_dt
