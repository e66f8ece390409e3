-- Principals calling from a public IP never seen for them in the baseline before the window.
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
baseline AS (
    SELECT DISTINCT principal, ip
    FROM calls
    WHERE time_dt < from_iso8601_timestamp(:start)
),
history AS (
    SELECT principal, count(*) AS baseline_events
    FROM calls
    WHERE time_dt < from_iso8601_timestamp(:start)
    GROUP BY principal
),
active AS (
    SELECT principal
    FROM history
    WHERE baseline_events >= :min_baseline_events
),
new_ips AS (
SELECT c.principal AS "actor.user.uid",
       c.ip AS "src_endpoint.ip",
       min(c.time_dt) AS first_time_dt,
       max(c.time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE c.status = 'Success') AS successes,
       slice(array_agg(DISTINCT c.operation), 1, 25) AS sample_operations,
       array_agg(DISTINCT c.user_agent) AS user_agents,
       array_agg(DISTINCT c.credential_uid) AS credential_uids,
       array_agg(DISTINCT c.accountid) AS accounts
FROM calls c
JOIN active a ON a.principal = c.principal
LEFT JOIN baseline b ON b.principal = c.principal AND b.ip = c.ip
WHERE c.time_dt >= from_iso8601_timestamp(:start)
  AND b.ip IS NULL
GROUP BY c.principal, c.ip
)
SELECT *
FROM new_ips
WHERE events >= :min_events
ORDER BY first_time_dt
