-- Outbound connections to public IPs on ports that almost nobody in the organization uses.
WITH egress AS (
    SELECT time_dt,
           accountid,
           src_endpoint.instance_uid AS instance_uid,
           src_endpoint.ip AS src_ip,
           dst_endpoint.ip AS dst_ip,
           dst_endpoint.port AS port,
           traffic.bytes AS bytes,
           action
    FROM {table:vpc_flow}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND COALESCE(connection_info.direction, 'Outbound') = 'Outbound'
      AND dst_endpoint.port IS NOT NULL
      AND COALESCE(src_endpoint.port, 65535) > dst_endpoint.port
      AND dst_endpoint.port < 32768
      AND NOT COALESCE(dst_endpoint.port IN (:common_ports), false)
      AND regexp_like(COALESCE(src_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.)')
      AND NOT regexp_like(COALESCE(dst_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|f[cd]|fe80|$)')
),
port_sources AS (
    SELECT port, count(DISTINCT src_ip) AS sources
    FROM egress
    GROUP BY port
),
rare AS (
    SELECT port
    FROM port_sources
    WHERE sources <= :max_sources
),
users AS (
SELECT e.instance_uid AS "src_endpoint.instance_uid",
       e.src_ip AS "src_endpoint.ip",
       e.port AS "dst_endpoint.port",
       e.accountid AS accountid,
       min(e.time_dt) AS first_time_dt,
       max(e.time_dt) AS last_time_dt,
       count(*) AS events,
       sum(e.bytes) AS bytes,
       count(DISTINCT e.dst_ip) AS destinations,
       slice(array_sort(array_agg(DISTINCT e.dst_ip)), 1, 20) AS sample_destinations
FROM egress e
JOIN rare r ON r.port = e.port
GROUP BY e.instance_uid, e.src_ip, e.port, e.accountid
)
SELECT *
FROM users
WHERE events >= :min_flows
ORDER BY first_time_dt
