-- EC2 instance-role session credentials used from a public IP that a non-instance principal
-- (an IAM user, an SSO or other role session) also used around the same time: the credentials
-- left the instance and are used from someone's workstation.
WITH calls AS (
    SELECT time_dt,
           accountid,
           actor.user.type AS user_type,
           actor.user.uid AS principal,
           actor.session.issuer AS issuer,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           status,
           actor.user.type = 'AssumedRole'
               AND COALESCE(actor.user.credential_uid, '') LIKE 'ASIA%'
               AND regexp_like(COALESCE(actor.user.uid, ''), '/i-[0-9a-fA-F]{8,17}$') AS is_instance
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :max_gap_hours * INTERVAL '1' HOUR
      AND time_dt < from_iso8601_timestamp(:end) + :max_gap_hours * INTERVAL '1' HOUR
      AND actor.user.type IN ('IAMUser', 'AssumedRole', 'Root', 'FederatedUser')
      AND actor.invoked_by IS NULL
      AND regexp_like(COALESCE(src_endpoint.ip, ''), '^([0-9]{1,3}\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$')
      AND NOT regexp_like(src_endpoint.ip, '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.|f[cd]|fe80)')
      AND NOT COALESCE(src_endpoint.ip IN (:allowed_ips), false)
),
instance_use AS (
    SELECT principal,
           issuer,
           credential_uid,
           ip,
           min(time_dt) AS first_time_dt,
           max(time_dt) AS last_time_dt,
           count(*) AS events,
           count(*) FILTER (WHERE status = 'Success') AS successes,
           slice(array_sort(array_agg(DISTINCT operation)), 1, 25) AS sample_operations,
           arbitrary(accountid) AS accountid
    FROM calls
    WHERE is_instance
      AND time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
    GROUP BY principal, issuer, credential_uid, ip
),
other_use AS (
    SELECT ip, principal, min(time_dt) AS first_dt, max(time_dt) AS last_dt, count(*) AS calls
    FROM calls
    WHERE NOT is_instance
    GROUP BY ip, principal
),
matched AS (
    SELECT i.principal, i.credential_uid, i.ip, o.principal AS other_principal, o.calls
    FROM instance_use i, other_use o
    WHERE o.ip = i.ip
      AND o.first_dt <= i.last_time_dt + :max_gap_hours * INTERVAL '1' HOUR
      AND o.last_dt >= i.first_time_dt - :max_gap_hours * INTERVAL '1' HOUR
),
shared AS (
    SELECT principal, credential_uid, ip,
           array_sort(array_agg(DISTINCT other_principal)) AS same_ip_principals,
           sum(calls) AS same_ip_calls
    FROM matched
    GROUP BY principal, credential_uid, ip
)
SELECT i.principal AS "actor.user.uid",
       i.issuer AS "actor.session.issuer",
       i.credential_uid AS "actor.user.credential_uid",
       i.ip AS "src_endpoint.ip",
       i.first_time_dt,
       i.last_time_dt,
       i.events,
       i.successes,
       i.sample_operations,
       i.accountid,
       s.same_ip_principals,
       s.same_ip_calls
FROM instance_use i
JOIN shared s ON s.principal = i.principal AND s.credential_uid = i.credential_uid AND s.ip = i.ip
ORDER BY i.first_time_dt
