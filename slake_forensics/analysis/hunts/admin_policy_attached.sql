-- Administrator rights granted: a managed admin policy attached, or an inline/custom policy allowing "*".
WITH iam AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           api.request.data AS request,
           COALESCE(json_extract_scalar(api.request.data, '$.userName'),
                    json_extract_scalar(api.request.data, '$.roleName'),
                    json_extract_scalar(api.request.data, '$.groupName'),
                    json_extract_scalar(api.request.data, '$.policyArn'),
                    json_extract_scalar(api.request.data, '$.policyName')) AS target,
           json_extract_scalar(api.request.data, '$.policyArn') AS policy_arn
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy',
                            'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy',
                            'CreatePolicy', 'CreatePolicyVersion')
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       target,
       policy_arn,
       CASE WHEN policy_arn IS NOT NULL THEN 'admin managed policy attached'
            ELSE 'policy allows every action' END AS detail
FROM iam
WHERE (operation LIKE 'Attach%'
       AND COALESCE(element_at(split(policy_arn, '/'), -1) IN (:admin_policies), false))
   OR (operation NOT LIKE 'Attach%'
       AND (regexp_like(request, '\\?"Effect\\?"\s*:\s*\\?"Allow\\?"[^}]*\\?"Action\\?"\s*:\s*\[?\s*\\?"\*(:\*)?\\?"')
            OR regexp_like(request, '\\?"Action\\?"\s*:\s*\[?\s*\\?"\*(:\*)?\\?"[^}]*\\?"Effect\\?"\s*:\s*\\?"Allow\\?"')))
ORDER BY time_dt
