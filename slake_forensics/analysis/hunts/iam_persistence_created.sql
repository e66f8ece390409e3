-- New IAM users, access keys, login profiles and other long-lived credentials.
SELECT time_dt,
       metadata.uid AS "metadata.uid",
       accountid,
       region,
       actor.user.type AS "actor.user.type",
       actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       http_request.user_agent AS "http_request.user_agent",
       api.operation AS "api.operation",
       json_extract_scalar(api.request.data, '$.userName') AS target_user,
       COALESCE(json_extract_scalar(api.request.data, '$.userName') <> actor.user.name, false) AS for_other_user,
       json_extract_scalar(api.response.data, '$.accessKey.accessKeyId') AS new_access_key
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND api.operation IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile',
                        'CreateServiceSpecificCredential', 'UploadSSHPublicKey', 'CreateVirtualMFADevice')
  AND status = 'Success'
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
ORDER BY time_dt
