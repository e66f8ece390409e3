-- One principal retrieving many distinct secrets (Secrets Manager values, SSM parameters decrypted)
-- in a short time, or retrieving secrets in bulk by filter (BatchGetSecretValue with filters).
WITH calls AS (
    SELECT COALESCE(actor.user.uid, actor.user.credential_uid) AS principal,
           time_dt,
           accountid,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           status,
           api.operation = 'BatchGetSecretValue' AND NOT regexp_like(COALESCE(api.request.data, ''), '"secretIdList"') AS by_filter,
           CASE
               WHEN api.operation = 'GetSecretValue'
                   THEN ARRAY[COALESCE(json_extract_scalar(api.request.data, '$.secretId'), '?')]
               WHEN api.operation = 'BatchGetSecretValue' AND regexp_like(COALESCE(api.request.data, ''), '"secretIdList"')
                   THEN regexp_extract_all(regexp_extract(api.request.data, '"secretIdList"\s*:\s*\[([^\]]*)\]', 1), '"([^"]*)"', 1)
               WHEN api.operation = 'BatchGetSecretValue'
                   THEN ARRAY[concat('filter:', COALESCE(regexp_extract(api.request.data, '"filters"\s*:\s*(\[.*\])', 1), '?'))]
               WHEN api.operation = 'GetParameter'
                   THEN ARRAY[COALESCE(json_extract_scalar(api.request.data, '$.name'), '?')]
               ELSE regexp_extract_all(regexp_extract(api.request.data, '"names"\s*:\s*\[([^\]]*)\]', 1), '"([^"]*)"', 1)
           END AS items
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND (api.operation IN ('GetSecretValue', 'BatchGetSecretValue')
           OR (api.operation IN ('GetParameter', 'GetParameters')
               AND lower(COALESCE(json_extract_scalar(api.request.data, '$.withDecryption'), 'false')) = 'true'))
      AND (:include_failures OR status = 'Success')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
),
items AS (
    SELECT principal, time_dt, item
    FROM calls
    CROSS JOIN UNNEST(items) AS t(item)
),
starts AS (
    SELECT DISTINCT principal, time_dt FROM calls
),
windows AS (
    SELECT s.principal,
           s.time_dt AS window_start_dt,
           count(DISTINCT i.item) AS distinct_secrets
    FROM starts s, items i
    WHERE i.principal = s.principal
      AND i.time_dt >= s.time_dt
      AND i.time_dt < s.time_dt + :window_minutes * INTERVAL '1' MINUTE
    GROUP BY s.principal, s.time_dt
),
filtered AS (
    SELECT principal, date_trunc('hour', time_dt) AS hour, count(*) AS filter_batch_calls
    FROM calls
    WHERE by_filter
    GROUP BY principal, date_trunc('hour', time_dt)
),
flagged AS (
    SELECT principal, date_trunc('hour', window_start_dt) AS hour, max(distinct_secrets) AS max_distinct_secrets
    FROM windows
    WHERE distinct_secrets >= :min_distinct_secrets
    GROUP BY principal, date_trunc('hour', window_start_dt)
),
hours AS (
    SELECT COALESCE(f.principal, b.principal) AS principal,
           COALESCE(f.hour, b.hour) AS hour,
           COALESCE(f.max_distinct_secrets, 0) AS max_distinct_secrets,
           COALESCE(b.filter_batch_calls, 0) AS filter_batch_calls
    FROM flagged f
    FULL OUTER JOIN filtered b ON b.principal = f.principal AND b.hour = f.hour
),
hits AS (
    SELECT h.principal AS "actor.user.uid",
           h.hour,
           min(c.time_dt) AS first_time_dt,
           max(c.time_dt) AS last_time_dt,
           count(*) AS events,
           count(*) FILTER (WHERE c.status <> 'Success') AS failures,
           arbitrary(h.max_distinct_secrets) AS max_distinct_secrets,
           arbitrary(h.filter_batch_calls) AS filter_batch_calls,
           array_sort(array_agg(DISTINCT c.operation)) AS operations,
           array_sort(array_agg(DISTINCT c.ip)) AS ips,
           array_sort(array_agg(DISTINCT c.credential_uid)) AS credential_uids,
           array_sort(array_agg(DISTINCT c.accountid)) AS accounts
    FROM hours h
    JOIN calls c ON c.principal = h.principal AND date_trunc('hour', c.time_dt) = h.hour
    GROUP BY h.principal, h.hour
),
item_hours AS (
    SELECT principal, date_trunc('hour', time_dt) AS hour, slice(array_sort(array_agg(DISTINCT item)), 1, 50) AS sample_secrets
    FROM items
    GROUP BY principal, date_trunc('hour', time_dt)
)
SELECT hits.*, ih.sample_secrets
FROM hits
LEFT JOIN item_hours ih ON ih.principal = hits."actor.user.uid" AND ih.hour = hits.hour
WHERE max_distinct_secrets >= :min_distinct_secrets
   OR filter_batch_calls >= :min_filter_batch_calls
ORDER BY first_time_dt
