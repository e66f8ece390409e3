-- S3 made public or shared outside the organization: public access block removed or relaxed,
-- a bucket policy for everyone or for a foreign account, a public ACL.
WITH org AS (
    SELECT array_sort(array_agg(DISTINCT accountid)) AS accounts
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
),
changes AS (
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
           api.request.data AS request,
           regexp_extract_all(api.request.data, 'arn:aws[a-z-]*:iam::([0-9]{12}):', 1) AS principal_accounts
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('DeletePublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'DeleteAccountPublicAccessBlock',
                            'PutPublicAccessBlock', 'PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock',
                            'PutBucketPolicy', 'PutBucketAcl', 'PutObjectAcl')
),
flagged AS (
    SELECT changes.*,
           CASE
               WHEN operation LIKE 'Delete%PublicAccessBlock' THEN 'public access block removed'
               WHEN operation LIKE 'Put%PublicAccessBlock'
                    AND regexp_like(request, '(?i)(BlockPublicAcls|IgnorePublicAcls|BlockPublicPolicy|RestrictPublicBuckets)\\?"?\s*:\s*\\?"?false')
                   THEN 'public access block relaxed'
               -- Principal "*" in an Allow statement (either order; [^}]* stays inside the
               -- statement), not in a Deny such as the common deny-insecure-transport statement.
               WHEN operation = 'PutBucketPolicy'
                    AND (regexp_like(request, '\\?"Effect\\?"\s*:\s*\\?"Allow\\?"[^}]*\\?"Principal\\?"\s*:\s*(\\?"\*\\?"|\{\s*\\?"AWS\\?"\s*:\s*\[?\s*\\?"\*\\?")')
                         OR regexp_like(request, '\\?"Principal\\?"\s*:\s*(\\?"\*\\?"|\{\s*\\?"AWS\\?"\s*:\s*\[?\s*\\?"\*\\?"[^}]*\})[^}]*\\?"Effect\\?"\s*:\s*\\?"Allow\\?"'))
                   THEN 'bucket policy allows everyone'
               WHEN operation = 'PutBucketPolicy'
                    AND any_match(principal_accounts, a -> NOT contains(org.accounts, a)
                                                         AND NOT COALESCE(a IN (:trusted_accounts), false))
                   THEN 'bucket policy grants an account outside the lake'
               WHEN operation IN ('PutBucketAcl', 'PutObjectAcl')
                    AND regexp_like(request, '(?i)(global/AllUsers|global/AuthenticatedUsers|public-read|authenticated-read)')
                   THEN 'public ACL'
           END AS detail
    FROM changes CROSS JOIN org
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
       detail,
       request AS "api.request.data"
FROM flagged
WHERE detail IS NOT NULL
ORDER BY time_dt
