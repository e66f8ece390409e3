-- Long-lived IAM access keys (AKIA...) in use: who uses them, from how many IPs and agents.
WITH keys AS (
SELECT actor.user.credential_uid AS "actor.user.credential_uid",
       actor.user.uid AS "actor.user.uid",
       accountid,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT src_endpoint.ip) AS ips,
       count(DISTINCT http_request.user_agent) AS user_agents,
       count(DISTINCT api.service.name) AS services,
       slice(array_sort(array_agg(DISTINCT src_endpoint.ip)), 1, 20) AS sample_ips,
       count(*) FILTER (WHERE status = 'Failure') AS failures
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND actor.user.credential_uid LIKE 'AKIA%'
GROUP BY actor.user.credential_uid, actor.user.uid, accountid
)
SELECT *
FROM keys
WHERE ips >= :min_distinct_ips
ORDER BY ips DESC, events DESC
