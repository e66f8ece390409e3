-- One client IP blocked many times by AWS WAF within ten minutes.
WITH bursts AS (
SELECT src_endpoint.ip AS "src_endpoint.ip",
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT firewall_rule.uid) AS rules,
       slice(array_sort(array_agg(DISTINCT firewall_rule.uid)), 1, 10) AS sample_rules,
       slice(array_sort(array_agg(DISTINCT http_request.url.path)), 1, 20) AS sample_paths,
       array_sort(array_agg(DISTINCT http_request.url.hostname)) AS hostnames,
       array_sort(array_agg(DISTINCT accountid)) AS accounts
FROM {table:waf}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND (action = 'Denied' OR disposition = 'Blocked')
GROUP BY src_endpoint.ip, floor(to_unixtime(time_dt) / 600)
)
SELECT *
FROM bursts
WHERE events >= :min_blocked
ORDER BY first_time_dt
