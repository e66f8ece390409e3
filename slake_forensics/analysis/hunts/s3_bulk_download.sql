-- Many objects or many bytes read from S3 by one principal in one hour (with the listings around them).
WITH reads AS (
    SELECT COALESCE(actor.user.uid, actor.user.credential_uid) AS principal,
           date_trunc('hour', time_dt) AS hour,
           time_dt,
           accountid,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           json_extract_scalar(api.request.data, '$.bucketName') AS bucket,
           CASE WHEN api.operation = 'GetObject' THEN json_extract_scalar(api.request.data, '$.key') END AS object_key,
           api.operation = 'GetObject' AS is_read,
           COALESCE(try_cast(element_at(unmapped, 'additionalEventData.bytesTransferredOut') AS double), 0) AS bytes
    FROM {table:s3_data}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.operation IN ('GetObject', 'ListObjects', 'ListObjectsV2', 'HeadObject')
      AND status = 'Success'
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
),
hourly AS (
SELECT principal AS "actor.user.uid",
       hour,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(DISTINCT CASE WHEN is_read THEN concat(COALESCE(bucket, ''), '/', COALESCE(object_key, '')) END) AS objects,
       sum(bytes) AS bytes_out,
       array_sort(array_agg(DISTINCT bucket)) AS buckets,
       array_sort(array_agg(DISTINCT ip)) AS ips,
       array_sort(array_agg(DISTINCT credential_uid)) AS credential_uids,
       array_sort(array_agg(DISTINCT accountid)) AS accounts
FROM reads
GROUP BY principal, hour
)
SELECT *
FROM hourly
WHERE objects >= :min_objects
   OR (bytes_out >= :min_bytes AND objects >= :min_objects_with_bytes)
ORDER BY first_time_dt
