-- Bedrock models invoked (or model access enabled) by a principal that never used Bedrock in the baseline.
WITH calls AS (
    SELECT COALESCE(actor.session.issuer, actor.user.uid, actor.user.credential_uid) AS principal,
           actor.user.uid AS session,
           time_dt,
           accountid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           status,
           json_extract_scalar(api.request.data, '$.modelId') AS model_id,
           api.operation IN ('InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream') AS is_invocation
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.service.name = 'bedrock.amazonaws.com'
      AND api.operation IN ('InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream',
                            'PutFoundationModelEntitlement', 'CreateFoundationModelAgreement', 'PutUseCaseForModelAccess')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
      AND NOT COALESCE(actor.session.issuer IN (:exclude_principals), false)
),
per_principal AS (
    SELECT principal AS "actor.session.issuer",
           min(time_dt) AS first_time_dt,
           max(time_dt) AS last_time_dt,
           count(*) AS events,
           count(*) FILTER (WHERE is_invocation) AS invocations,
           count(*) FILTER (WHERE NOT is_invocation) AS model_access_changes,
           count(*) FILTER (WHERE status <> 'Success') AS failures,
           array_sort(array_agg(DISTINCT operation)) AS operations,
           array_sort(array_agg(DISTINCT model_id) FILTER (WHERE model_id IS NOT NULL)) AS models,
           array_sort(array_agg(DISTINCT ip)) AS ips,
           slice(array_sort(array_agg(DISTINCT session)), 1, 25) AS sessions,
           array_sort(array_agg(DISTINCT accountid)) AS accounts
    FROM calls
    GROUP BY principal
)
SELECT *
FROM per_principal
WHERE first_time_dt >= from_iso8601_timestamp(:start)
  AND events >= :min_events
ORDER BY first_time_dt
