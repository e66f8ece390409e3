-- Changes to who can read a bucket or where its objects go: bucket policy, ACL, Block Public
-- Access (bucket or account), object ownership, replication.  Each row also names the bucket's
-- previous change in the window, so an opening and its closing read as one exposure window.
WITH changes AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           http_request.user_agent AS user_agent,
           api.operation AS operation,
           json_extract_scalar(api.request.data, '$.bucketName') AS bucket,
           api.request.data AS request
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketAcl',
                            'PutPublicAccessBlock', 'PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock',
                            'DeletePublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock',
                            'PutBucketOwnershipControls', 'DeleteBucketOwnershipControls',
                            'PutBucketReplication', 'DeleteBucketReplication')
),
ordered AS (
    SELECT changes.*,
           lag(operation) OVER (PARTITION BY accountid, bucket ORDER BY time_dt) AS previous_change,
           lag(time_dt) OVER (PARTITION BY accountid, bucket ORDER BY time_dt) AS previous_change_time_dt
    FROM changes
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       user_agent AS "http_request.user_agent",
       operation AS "api.operation",
       bucket,
       CASE
           WHEN operation = 'PutBucketPolicy' THEN 'bucket policy replaced'
           WHEN operation = 'DeleteBucketPolicy' THEN 'bucket policy deleted'
           WHEN operation = 'PutBucketAcl' THEN 'bucket ACL replaced'
           WHEN operation LIKE 'Delete%PublicAccessBlock' THEN 'Block Public Access removed'
           WHEN operation LIKE 'Put%PublicAccessBlock'
                AND regexp_like(request, '(?i)(BlockPublicAcls|IgnorePublicAcls|BlockPublicPolicy|RestrictPublicBuckets)\\?"?\s*:\s*\\?"?false')
               THEN 'Block Public Access relaxed'
           WHEN operation LIKE 'Put%PublicAccessBlock' THEN 'Block Public Access set'
           WHEN operation LIKE '%OwnershipControls' THEN 'object ownership (ACL use) changed'
           WHEN operation = 'PutBucketReplication' THEN 'replication to another bucket configured'
           ELSE 'replication removed'
       END AS detail,
       previous_change,
       previous_change_time_dt,
       request AS "api.request.data"
FROM ordered
WHERE NOT COALESCE(principal IN (:exclude_principals), false)
ORDER BY time_dt
