-- One source sending a large volume to one public destination in one hour.
WITH hourly AS (
SELECT src_endpoint.instance_uid AS "src_endpoint.instance_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       dst_endpoint.ip AS "dst_endpoint.ip",
       accountid,
       date_trunc('hour', time_dt) AS hour,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       sum(traffic.bytes) AS bytes_out,
       array_sort(array_agg(DISTINCT dst_endpoint.port)) AS ports
FROM {table:vpc_flow}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND COALESCE(connection_info.direction, 'Outbound') = 'Outbound'
  AND action = 'Allowed'
  AND COALESCE(src_endpoint.port, 65535) > COALESCE(dst_endpoint.port, 0)
  AND NOT regexp_like(COALESCE(dst_endpoint.ip, ''), '^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|127\.|169\.254\.|f[cd]|fe80|$)')
  AND NOT COALESCE(dst_endpoint.ip IN (:exclude_destinations), false)
GROUP BY src_endpoint.instance_uid, src_endpoint.ip, dst_endpoint.ip, accountid, date_trunc('hour', time_dt)
)
SELECT *
FROM hourly
WHERE bytes_out >= :min_bytes
ORDER BY first_time_dt
