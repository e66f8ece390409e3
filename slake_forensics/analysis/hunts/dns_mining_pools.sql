-- DNS queries for cryptocurrency mining pools.
SELECT src_endpoint.instance_uid AS "src_endpoint.instance_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       query.hostname AS "query.hostname",
       accountid,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       array_sort(array_agg(DISTINCT rcode)) AS rcodes,
       array_sort(array_agg(DISTINCT src_endpoint.vpc_uid)) AS vpcs
FROM {table:route53}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND any_match(ARRAY[:pool_patterns], p -> strpos(lower(query.hostname), lower(p)) > 0)
  AND NOT any_match(ARRAY[:exclude_patterns], p -> strpos(lower(query.hostname), lower(p)) > 0)
GROUP BY src_endpoint.instance_uid, src_endpoint.ip, query.hostname, accountid
ORDER BY first_time_dt
