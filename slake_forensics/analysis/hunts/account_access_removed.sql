-- Another identity's access removed: access keys deactivated or deleted, console password
-- deleted or changed, MFA deactivated, other credentials or the user deleted (T1531).
WITH removals AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.type AS actor_type,
           actor.user.uid AS principal,
           actor.user.name AS caller_name,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           http_request.user_agent AS user_agent,
           api.operation AS operation,
           json_extract_scalar(api.request.data, '$.userName') AS target_user,
           json_extract_scalar(api.request.data, '$.accessKeyId') AS target_key
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('UpdateAccessKey', 'DeleteAccessKey', 'DeleteLoginProfile', 'UpdateLoginProfile',
                            'DeactivateMFADevice', 'DeleteSSHPublicKey', 'DeleteServiceSpecificCredential',
                            'DeleteSigningCertificate', 'DeleteUser')
      AND (api.operation <> 'UpdateAccessKey'
           OR lower(json_extract_scalar(api.request.data, '$.status')) = 'inactive')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       actor_type AS "actor.user.type",
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       user_agent AS "http_request.user_agent",
       operation AS "api.operation",
       target_user,
       target_key,
       CASE operation
           WHEN 'UpdateAccessKey' THEN 'access key deactivated'
           WHEN 'DeleteAccessKey' THEN 'access key deleted'
           WHEN 'DeleteLoginProfile' THEN 'console password deleted'
           WHEN 'UpdateLoginProfile' THEN 'console password changed'
           WHEN 'DeactivateMFADevice' THEN 'MFA device deactivated'
           WHEN 'DeleteUser' THEN 'user deleted'
           ELSE 'other credential deleted'
       END AS detail,
       count(*) OVER (PARTITION BY accountid, principal) AS removals_by_caller
FROM removals
-- A call without userName acts on the caller's own user; the owner managing their own
-- credentials is routine.
WHERE target_user IS NOT NULL
  AND NOT COALESCE(target_user = caller_name, false)
ORDER BY time_dt
