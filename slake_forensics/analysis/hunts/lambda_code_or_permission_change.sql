-- Lambda functions exposed publicly, or changed by a principal that never changed them before.
WITH calls AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS raw_operation,
           regexp_replace(api.operation, '20[0-9]{6}.*$', '') AS operation,
           COALESCE(json_extract_scalar(api.request.data, '$.functionName'),
                    json_extract_scalar(api.request.data, '$.layerName')) AS function_name,
           api.request.data AS request
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.service.name = 'lambda.amazonaws.com'
      AND status = 'Success'
),
writes AS (
    SELECT principal, function_name,
           count(*) FILTER (WHERE time_dt < from_iso8601_timestamp(:start)) AS baseline_writes,
           count(DISTINCT date_trunc('day', time_dt)) AS write_days
    FROM calls
    WHERE operation IN ('CreateFunction', 'UpdateFunctionCode', 'UpdateFunctionConfiguration')
    GROUP BY principal, function_name
),
known AS (
    SELECT principal, function_name
    FROM writes
    WHERE baseline_writes > 0
       OR write_days >= :regular_days
),
flagged AS (
    SELECT c.*,
           CASE
               WHEN c.operation IN ('AddPermission', 'AddLayerVersionPermission')
                    AND regexp_like(c.request, '(?i)\\?"principal\\?"\s*:\s*\\?"\*\\?"')
                   THEN 'resource policy allows everyone'
               WHEN c.operation IN ('CreateFunctionUrlConfig', 'UpdateFunctionUrlConfig')
                    AND upper(json_extract_scalar(c.request, '$.authType')) = 'NONE'
                   THEN 'function URL without authentication'
               WHEN c.operation IN ('UpdateFunctionCode', 'UpdateFunctionConfiguration') AND k.principal IS NULL
                   THEN 'changed by a principal new to this function'
           END AS detail
    FROM calls c
    LEFT JOIN known k ON k.principal = c.principal AND k.function_name = c.function_name
    WHERE c.time_dt >= from_iso8601_timestamp(:start)
      AND NOT COALESCE(c.principal IN (:exclude_principals), false)
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       raw_operation AS "api.operation",
       function_name,
       detail
FROM flagged
WHERE detail IS NOT NULL
ORDER BY time_dt
