-- Permissions of IAM identities changed: managed policies attached or detached, inline policies
-- written or deleted, a new default policy version, a role's trust policy replaced, a user added
-- to a group, a permissions boundary set or removed.
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
           COALESCE(json_extract_scalar(api.request.data, '$.userName'),
                    json_extract_scalar(api.request.data, '$.roleName'),
                    json_extract_scalar(api.request.data, '$.groupName'),
                    json_extract_scalar(api.request.data, '$.policyArn')) AS target,
           COALESCE(json_extract_scalar(api.request.data, '$.policyArn'),
                    json_extract_scalar(api.request.data, '$.policyName'),
                    json_extract_scalar(api.request.data, '$.permissionsBoundary')) AS policy,
           api.request.data AS request
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy',
                            'DetachUserPolicy', 'DetachRolePolicy', 'DetachGroupPolicy',
                            'PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy',
                            'DeleteUserPolicy', 'DeleteRolePolicy', 'DeleteGroupPolicy',
                            'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'UpdateAssumeRolePolicy',
                            'AddUserToGroup', 'PutUserPermissionsBoundary', 'PutRolePermissionsBoundary',
                            'DeleteUserPermissionsBoundary', 'DeleteRolePermissionsBoundary')
      -- A non-default version grants nothing until SetDefaultPolicyVersion (also listed).
      AND (api.operation <> 'CreatePolicyVersion'
           OR lower(json_extract_scalar(api.request.data, '$.setAsDefault')) = 'true')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
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
       target,
       policy,
       CASE
           WHEN operation LIKE 'Attach%' THEN 'managed policy attached'
           WHEN operation LIKE 'Detach%' THEN 'managed policy detached'
           WHEN operation LIKE 'Put%Policy' AND regexp_like(request, '\\?"Effect\\?"\s*:\s*\\?"Allow\\?"')
               THEN 'inline policy allowing actions written'
           WHEN operation LIKE 'Put%Policy' THEN 'inline deny-only policy written'
           WHEN operation LIKE 'Delete%Policy' THEN 'inline policy deleted'
           WHEN operation IN ('CreatePolicyVersion', 'SetDefaultPolicyVersion') THEN 'new default policy version'
           WHEN operation = 'UpdateAssumeRolePolicy' THEN 'role trust policy replaced'
           WHEN operation = 'AddUserToGroup' THEN 'user added to group'
           WHEN operation LIKE 'Put%PermissionsBoundary' THEN 'permissions boundary set'
           ELSE 'permissions boundary removed'
       END AS detail,
       request AS "api.request.data"
FROM changes
ORDER BY time_dt
