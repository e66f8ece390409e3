-- EBS snapshots, AMIs and RDS snapshots shared with other accounts or made public.
WITH calls AS (
    SELECT time_dt,
           metadata.uid AS uid,
           accountid,
           region,
           actor.user.uid AS principal,
           actor.user.credential_uid AS credential_uid,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           api.request.data AS request,
           COALESCE(json_extract_scalar(api.request.data, '$.snapshotId'),
                    json_extract_scalar(api.request.data, '$.imageId'),
                    json_extract_scalar(api.request.data, '$.dBSnapshotIdentifier'),
                    json_extract_scalar(api.request.data, '$.dBClusterSnapshotIdentifier')) AS resource_id
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('ModifySnapshotAttribute', 'ModifyImageAttribute',
                            'ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute')
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       resource_id,
       filter(array_distinct(regexp_extract_all(request, '[0-9]{12}')), a -> a <> accountid) AS shared_with_accounts,
       regexp_like(request, '(?i)\\?"(group|valuesToAdd)\\?"\s*:\s*\[?\s*\\?"all\\?"') AS public
FROM calls
WHERE (operation IN ('ModifySnapshotAttribute', 'ModifyImageAttribute')
       AND regexp_like(request, '(?i)(createVolumePermission|launchPermission)')
       AND regexp_like(request, '(?i)\\?"add\\?"\s*:\s*\{\s*\\?"items\\?"\s*:\s*\[\s*\{'))
   OR (operation IN ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute')
       AND lower(json_extract_scalar(request, '$.attributeName')) = 'restore'
       AND regexp_like(request, '\\?"valuesToAdd\\?"\s*:\s*\[\s*\\?"'))
ORDER BY time_dt
