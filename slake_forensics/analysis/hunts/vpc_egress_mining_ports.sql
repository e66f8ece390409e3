-- Outbound connections to public IPs on ports used by mining pools (and Stratum proxies).
SELECT src_endpoint.instance_uid AS "src_endpoint.instance_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       dst_endpoint.ip AS "dst_endpoint.ip",
       dst_endpoint.port AS "dst_endpoint.port",
       accountid,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       sum(traffic.bytes) AS bytes,
       count(*) FILTER (WHERE action = 'Allowed') AS allowed,
       round((to_unixtime(max(COALESCE(end_time_dt, time_dt))) - to_unixtime(min(COALESCE(start_time_dt, time_dt)))) / 3600.0, 2) AS span_hours
FROM {table:vpc_flow}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND dst_endpoint.port IN (:ports)
  AND COALESCE(src_endpoint.port, 65535) > dst_endpoint.port
  AND COALESCE(connection_info.direction, 'Outbound') = 'Outbound'
  AND NOT regexp_like(COALESCE(dst_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|f[cd]|fe80|$)')
GROUP BY src_endpoint.instance_uid, src_endpoint.ip, dst_endpoint.ip, dst_endpoint.port, accountid
ORDER BY first_time_dt
