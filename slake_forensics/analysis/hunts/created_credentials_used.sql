-- Access keys and users created in the data read, then used: persistence being exercised.
WITH created AS (
    SELECT json_extract_scalar(api.response.data, '$.accessKey.accessKeyId') AS access_key,
           COALESCE(json_extract_scalar(api.request.data, '$.userName'), actor.user.name) AS user_name,
           accountid,
           api.operation AS operation,
           actor.user.uid AS creator,
           time_dt AS created_time_dt
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('CreateAccessKey', 'CreateUser', 'CreateLoginProfile')
      AND NOT COALESCE(actor.user.uid IN (:exclude_creators), false)
),
uses AS (
    SELECT e.time_dt,
           e.actor.user.uid AS principal,
           e.actor.user.credential_uid AS credential_uid,
           e.src_endpoint.ip AS ip,
           e.api.operation AS operation,
           e.status AS status,
           c.operation AS created_by_operation,
           c.creator AS creator,
           c.created_time_dt AS created_time_dt
    FROM {table:cloud_trail_mgmt} e
    JOIN created c
      ON (c.access_key = e.actor.user.credential_uid)
      OR (c.operation <> 'CreateAccessKey' AND e.actor.user.type = 'IAMUser' AND e.accountid = c.accountid
          AND e.actor.user.name = c.user_name)
    WHERE e.time_dt >= from_iso8601_timestamp(:start)
      AND e.time_dt < from_iso8601_timestamp(:end)
      AND e.time_dt > c.created_time_dt
)
SELECT principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       min(created_time_dt) AS created_time_dt,
       arbitrary(creator) AS creator,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE status = 'Success') AS successes,
       slice(array_sort(array_agg(DISTINCT operation)), 1, 25) AS sample_operations
FROM uses
GROUP BY principal, credential_uid, ip
ORDER BY first_time_dt
