-- Sources resolving several algorithmically generated looking names (long, high-entropy labels).
WITH queries AS (
    SELECT time_dt,
           accountid,
           src_endpoint.instance_uid AS instance_uid,
           src_endpoint.ip AS ip,
           lower(query.hostname) AS hostname,
           rcode,
           element_at(split(regexp_replace(lower(query.hostname), '\.$', ''), '.'), -2) AS label
    FROM {table:route53}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND NOT any_match(ARRAY[:exclude_domains], d -> strpos(lower(query.hostname), lower(d)) > 0)
),
labels AS (
    SELECT DISTINCT label
    FROM queries
    WHERE length(label) >= :min_label_length
      AND strpos(label, '-') = 0
      AND (length(label) - length(regexp_replace(label, '[aeiouy]', ''))) * 1.0 / length(label) <= :max_vowel_share
),
letters AS (
    SELECT label, c, count(*) AS n
    FROM labels
    CROSS JOIN UNNEST(regexp_extract_all(label, '.')) AS t(c)
    GROUP BY label, c
),
entropy AS (
    SELECT label, -sum((n * 1.0 / length(label)) * log2(n * 1.0 / length(label))) AS bits_per_char
    FROM letters
    GROUP BY label
),
sources AS (
SELECT q.instance_uid AS "src_endpoint.instance_uid",
       q.ip AS "src_endpoint.ip",
       q.accountid AS accountid,
       min(q.time_dt) AS first_time_dt,
       max(q.time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT q.hostname) AS names,
       count(*) FILTER (WHERE q.rcode = 'NXDOMAIN') AS nxdomain,
       round(max(e.bits_per_char), 2) AS max_bits_per_char,
       slice(array_sort(array_agg(DISTINCT q.hostname)), 1, 20) AS sample_names
FROM queries q
JOIN entropy e ON e.label = q.label
WHERE e.bits_per_char >= :min_entropy
GROUP BY q.instance_uid, q.ip, q.accountid
)
SELECT *
FROM sources
WHERE names >= :min_distinct_names
ORDER BY first_time_dt
