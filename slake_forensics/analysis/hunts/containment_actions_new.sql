-- Containment and eradication actions new for their principal: a (principal, kind of action) not seen in
-- the baseline_days before the window (nor earlier in the window), so routine snapshot, scaling and
-- rotation jobs drop out while a responder's first containment actions remain.
-- The classification of actions is containment_actions.sql's; keep the two in step.
WITH calls AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           api.request.data AS request,
           COALESCE(json_extract_scalar(api.request.data, '$.accessKeyId'),
                    json_extract_scalar(api.request.data, '$.userName'),
                    json_extract_scalar(api.request.data, '$.roleName'),
                    json_extract_scalar(api.request.data, '$.bucketName'),
                    json_extract_scalar(api.request.data, '$.groupId'),
                    json_extract_scalar(api.request.data, '$.instanceId'),
                    json_extract_scalar(api.request.data, '$.instancesSet.items[0].instanceId'),
                    json_extract_scalar(api.request.data, '$.volumeId')) AS target
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start) - :baseline_days * INTERVAL '1' DAY
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
),
actions AS (
    SELECT calls.*,
           CASE
               WHEN operation = 'UpdateAccessKey' AND lower(json_extract_scalar(request, '$.status')) = 'inactive'
                   THEN 'access key deactivated'
               WHEN operation IN ('DeleteAccessKey', 'DeleteLoginProfile', 'DeleteUser', 'DeleteSSHPublicKey',
                                  'DeleteServiceSpecificCredential', 'DeactivateMFADevice')
                   THEN 'credential or identity removed'
               WHEN operation IN ('AttachUserPolicy', 'AttachRolePolicy', 'AttachGroupPolicy')
                    AND regexp_like(COALESCE(json_extract_scalar(request, '$.policyArn'), ''), '(?i)/(AWSDenyAll|[^/]*(quarantine|deny)[^/]*)$')
                   THEN 'deny policy attached'
               WHEN operation IN ('PutUserPolicy', 'PutRolePolicy', 'PutGroupPolicy')
                    AND regexp_like(request, '(?i)\\?"Effect\\?"\s*:\s*\\?"Deny\\?"')
                   THEN 'deny or session-revocation policy written'
               WHEN operation IN ('StopInstances', 'TerminateInstances') THEN 'instance stopped or terminated'
               WHEN operation IN ('ModifyInstanceAttribute', 'ModifyNetworkInterfaceAttribute')
                    AND regexp_like(request, '(?i)groupSet|groupId')
                   THEN 'instance security groups replaced (isolation)'
               WHEN operation IN ('CreateSnapshot', 'CreateSnapshots') THEN 'forensic snapshot'
               WHEN operation IN ('PutPublicAccessBlock', 'PutBucketPublicAccessBlock', 'PutAccountPublicAccessBlock')
                    AND NOT regexp_like(request, '(?i)(BlockPublicAcls|IgnorePublicAcls|BlockPublicPolicy|RestrictPublicBuckets)\\?"?\s*:\s*\\?"?false')
                   THEN 'public access block restored'
               WHEN operation IN ('DeleteBucketPolicy', 'RevokeSecurityGroupIngress', 'DisassociateIamInstanceProfile',
                                  'ReplaceIamInstanceProfileAssociation', 'CancelKeyDeletion', 'StartLogging')
                   THEN 'exposure removed or control restored'
           END AS action
    FROM calls
),
seen AS (
    SELECT actions.*,
           min(time_dt) OVER (PARTITION BY principal, action) AS first_seen_dt,
           row_number() OVER (PARTITION BY principal, action ORDER BY time_dt, uid) - 1 AS prior_actions
    FROM actions
    WHERE action IS NOT NULL
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       target,
       action,
       first_seen_dt,
       prior_actions
FROM seen
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND NOT COALESCE(principal IN (:exclude_principals), false)
  AND (NOT :only_new
       OR (first_seen_dt >= from_iso8601_timestamp(:start)
           AND time_dt < first_seen_dt + :new_for_hours * INTERVAL '1' HOUR))
ORDER BY time_dt
