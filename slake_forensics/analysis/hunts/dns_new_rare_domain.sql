-- Instances resolving a domain for the first time, after a history, that no other source resolves.
WITH queries AS (
    SELECT time_dt,
           accountid,
           src_endpoint.instance_uid AS instance_uid,
           src_endpoint.ip AS ip,
           COALESCE(src_endpoint.instance_uid, src_endpoint.ip) AS resolver_client,
           lower(query.hostname) AS hostname,
           regexp_extract(lower(query.hostname), '([^.]+\.[^.]+)\.?$', 1) AS domain
    FROM {table:route53}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND NOT any_match(ARRAY[:exclude_domains], d -> strpos(lower(query.hostname), lower(d)) > 0)
),
ordered AS (
    SELECT queries.*,
           row_number() OVER (PARTITION BY resolver_client ORDER BY time_dt) AS ordinal,
           min(time_dt) OVER (PARTITION BY resolver_client) AS client_first_dt
    FROM queries
),
spread AS (
    SELECT domain, count(DISTINCT resolver_client) AS clients
    FROM queries
    GROUP BY domain
),
pairs AS (
    SELECT instance_uid AS "src_endpoint.instance_uid",
           ip AS "src_endpoint.ip",
           arbitrary(accountid) AS accountid,
           domain,
           min(time_dt) AS first_time_dt,
           max(time_dt) AS last_time_dt,
           count(*) AS events,
           min(ordinal) - 1 AS prior_queries,
           round((to_unixtime(min(time_dt)) - to_unixtime(arbitrary(client_first_dt))) / 3600.0, 1) AS history_hours,
           slice(array_sort(array_agg(DISTINCT hostname)), 1, 10) AS hostnames
    FROM ordered
    GROUP BY instance_uid, ip, domain
)
SELECT pairs.*, spread.clients
FROM pairs
JOIN spread ON spread.domain = pairs.domain
WHERE pairs.first_time_dt >= from_iso8601_timestamp(:start)
  AND pairs.prior_queries >= :min_prior_queries
  AND pairs.history_hours >= :min_history_hours
  AND spread.clients <= :max_clients
ORDER BY first_time_dt
