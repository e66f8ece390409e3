-- One outside source rejected on many ports or many hosts in one hour: a scan.
WITH hourly AS (
SELECT src_endpoint.ip AS "src_endpoint.ip",
       date_trunc('hour', time_dt) AS hour,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT dst_endpoint.port) AS ports,
       count(DISTINCT dst_endpoint.ip) AS hosts,
       slice(array_sort(array_agg(DISTINCT dst_endpoint.port)), 1, 30) AS sample_ports,
       array_sort(array_agg(DISTINCT accountid)) AS accounts
FROM {table:vpc_flow}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND (action = 'Denied' OR activity_id = 5)
  AND COALESCE(connection_info.direction, 'Inbound') = 'Inbound'
  AND NOT regexp_like(COALESCE(src_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|f[cd]|fe80|$)')
GROUP BY src_endpoint.ip, date_trunc('hour', time_dt)
)
SELECT *
FROM hourly
WHERE ports >= :min_ports
   OR hosts >= :min_hosts
ORDER BY first_time_dt
