-- Windows administrator passwords of EC2 instances requested (GetPasswordData), per caller.
SELECT actor.user.uid AS "actor.user.uid",
       actor.user.credential_uid AS "actor.user.credential_uid",
       src_endpoint.ip AS "src_endpoint.ip",
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE status <> 'Success') AS failures,
       count(DISTINCT json_extract_scalar(api.request.data, '$.instanceId')) AS instances,
       slice(array_sort(array_agg(DISTINCT json_extract_scalar(api.request.data, '$.instanceId'))), 1, 50) AS instance_ids,
       array_sort(array_agg(DISTINCT api.operation)) AS operations,
       array_sort(array_agg(DISTINCT api.response.error) FILTER (WHERE api.response.error IS NOT NULL)) AS errors,
       array_sort(array_agg(DISTINCT accountid)) AS accounts
FROM {table:cloud_trail_mgmt}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND api.operation = 'GetPasswordData'
  AND (:include_failures OR status = 'Success')
  AND NOT COALESCE(actor.user.uid IN (:exclude_principals), false)
GROUP BY actor.user.uid, actor.user.credential_uid, src_endpoint.ip
ORDER BY first_time_dt
