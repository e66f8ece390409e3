-- High-severity GuardDuty and Macie findings (one row per finding).
SELECT finding_info.uid AS "finding_info.uid",
       accountid,
       region,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       arbitrary(metadata.product.name) AS "metadata.product.name",
       arbitrary(finding_info.title) AS title,
       arbitrary(finding_info.types) AS types,
       max(severity_id) AS severity_id,
       arbitrary(transform(resources, r -> r.uid)) AS resources
FROM {table:sh_findings}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND severity_id >= :min_severity
  AND any_match(ARRAY[:products], p -> lower(p) = lower(metadata.product.name))
GROUP BY finding_info.uid, accountid, region
ORDER BY first_time_dt
