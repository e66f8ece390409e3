-- EC2 instance-role session credentials (ASIA..., session named after the instance) used
-- from a public IP while the role is otherwise used from private (VPC) addresses.
WITH calls AS (
    SELECT time_dt,
           accountid,
           actor.session.issuer AS role,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           http_request.user_agent AS user_agent,
           status,
           regexp_like(COALESCE(src_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.)') AS is_private,
           NOT regexp_like(COALESCE(src_endpoint.ip, ''), '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$')
               OR COALESCE(src_endpoint.domain, '') LIKE '%amazonaws.com'
               OR actor.invoked_by IS NOT NULL AS is_aws_internal
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND actor.user.type = 'AssumedRole'
      AND actor.user.credential_uid LIKE 'ASIA%'
      AND regexp_like(actor.user.uid, '/i-[0-9a-f]{8,17}$')
),
roles AS (
    SELECT role, count(*) AS role_events, count(*) FILTER (WHERE is_private) AS private_events
    FROM calls
    GROUP BY role
),
outside AS (
    SELECT role, ip, count(*) AS ip_events
    FROM calls
    WHERE NOT is_private AND NOT is_aws_internal
    GROUP BY role, ip
)
SELECT c.principal AS "actor.user.uid",
       c.role AS "actor.session.issuer",
       c.credential_uid AS "actor.user.credential_uid",
       c.ip AS "src_endpoint.ip",
       min(c.time_dt) AS first_time_dt,
       max(c.time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE c.status = 'Success') AS successes,
       slice(array_sort(array_agg(DISTINCT c.operation)), 1, 25) AS sample_operations,
       array_sort(array_agg(DISTINCT c.user_agent)) AS user_agents,
       arbitrary(c.accountid) AS accountid,
       arbitrary(r.private_events) * 1.0 / greatest(arbitrary(r.role_events) - arbitrary(o.ip_events), 1) AS role_private_share
FROM calls c
JOIN roles r ON r.role = c.role
JOIN outside o ON o.role = c.role AND o.ip = c.ip
WHERE c.time_dt >= from_iso8601_timestamp(:start)
  AND r.private_events >= :min_private_events
  AND r.private_events * 1.0 / greatest(r.role_events - o.ip_events, 1) >= :min_private_share
GROUP BY c.principal, c.role, c.credential_uid, c.ip
ORDER BY first_time_dt
