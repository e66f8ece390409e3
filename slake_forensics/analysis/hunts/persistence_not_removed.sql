-- IAM users, access keys and login profiles created in the window and still not removed.
WITH created AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           actor.user.uid AS principal,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           CASE api.operation WHEN 'CreateUser' THEN 'IAMUser'
                              WHEN 'CreateAccessKey' THEN 'AccessKey'
                              ELSE 'LoginProfile' END AS kind,
           COALESCE(json_extract_scalar(api.request.data, '$.userName'), actor.user.name) AS user_name,
           json_extract_scalar(api.response.data, '$.accessKey.accessKeyId') AS access_key
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('CreateUser', 'CreateAccessKey', 'CreateLoginProfile')
      AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
),
removed AS (
    SELECT time_dt,
           accountid,
           CASE api.operation WHEN 'DeleteUser' THEN 'IAMUser'
                              WHEN 'DeleteLoginProfile' THEN 'LoginProfile'
                              ELSE 'AccessKey' END AS kind,
           json_extract_scalar(api.request.data, '$.userName') AS user_name,
           json_extract_scalar(api.request.data, '$.accessKeyId') AS access_key
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND (api.operation IN ('DeleteUser', 'DeleteLoginProfile', 'DeleteAccessKey')
           OR (api.operation = 'UpdateAccessKey' AND lower(json_extract_scalar(api.request.data, '$.status')) = 'inactive'))
)
SELECT c.time_dt,
       c.uid AS "metadata.uid",
       c.accountid,
       c.principal AS "actor.user.uid",
       c.ip AS "src_endpoint.ip",
       c.operation AS "api.operation",
       c.kind,
       c.user_name,
       c.access_key
FROM created c
LEFT JOIN removed r
  ON r.accountid = c.accountid
 AND r.time_dt > c.time_dt
 AND ((r.kind = 'IAMUser' AND r.user_name = c.user_name)
      OR (c.kind = 'LoginProfile' AND r.kind = 'LoginProfile' AND r.user_name = c.user_name)
      OR (c.kind = 'AccessKey' AND r.kind = 'AccessKey' AND r.access_key = c.access_key))
WHERE r.kind IS NULL
ORDER BY c.time_dt
