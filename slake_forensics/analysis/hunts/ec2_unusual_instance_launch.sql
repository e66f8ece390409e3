-- RunInstances of GPU/accelerator families, very large sizes, or many instances at once (compute hijacking).
WITH launches AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.type AS user_type,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           status,
           api.response.error AS error,
           json_extract_scalar(api.request.data, '$.instanceType') AS instance_type,
           regexp_extract(COALESCE(json_extract_scalar(api.request.data, '$.instanceType'), ''), '^([a-z0-9-]+)\.', 1) AS family,
           regexp_extract(COALESCE(json_extract_scalar(api.request.data, '$.instanceType'), ''), '\.([a-z0-9-]+)$', 1) AS size,
           try_cast(json_extract_scalar(api.request.data, '$.instancesSet.items[0].maxCount') AS integer) AS max_count,
           json_extract_scalar(api.request.data, '$.instancesSet.items[0].imageId') AS image_id
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.operation = 'RunInstances'
      AND (:include_failures OR status = 'Success')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       user_type AS "actor.user.type",
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       status,
       error AS "api.response.error",
       instance_type,
       family,
       size,
       max_count,
       image_id
FROM launches
WHERE COALESCE(family IN (:unusual_families), false)
   OR COALESCE(size IN (:unusual_sizes), false)
   OR COALESCE(max_count >= :min_instances, false)
ORDER BY time_dt
