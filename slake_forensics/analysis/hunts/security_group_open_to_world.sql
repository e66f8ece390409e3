-- Security group ingress rules opened to the whole internet (0.0.0.0/0 or ::/0).
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
           json_extract_scalar(api.request.data, '$.groupId') AS group_id,
           try_cast(COALESCE(json_extract_scalar(api.request.data, '$.ipPermissions.items[0].fromPort'),
                             json_extract_scalar(api.request.data, '$.fromPort')) AS integer) AS from_port,
           try_cast(COALESCE(json_extract_scalar(api.request.data, '$.ipPermissions.items[0].toPort'),
                             json_extract_scalar(api.request.data, '$.toPort')) AS integer) AS to_port,
           COALESCE(json_extract_scalar(api.request.data, '$.ipPermissions.items[0].ipProtocol'),
                    json_extract_scalar(api.request.data, '$.ipProtocol')) AS protocol
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('AuthorizeSecurityGroupIngress', 'ModifySecurityGroupRules')
      -- any CIDR with prefix length 0 is the whole address space (0.0.0.0/0, ::/0, or x.x.x.x/0),
      -- in the ipPermissions form or the flat cidrIp form of AuthorizeSecurityGroupIngress
      AND regexp_like(api.request.data, '(?i)"cidrip(v4|v6)?"\s*:\s*"[0-9a-f.:]+/0"')
)
SELECT time_dt,
       uid AS "metadata.uid",
       accountid,
       region,
       principal AS "actor.user.uid",
       credential_uid AS "actor.user.credential_uid",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       group_id,
       protocol,
       from_port,
       to_port
FROM calls
WHERE NOT (from_port IS NOT NULL AND from_port = to_port
           AND COALESCE(from_port IN (:allowed_ports), false)
           AND regexp_count(request, '(?i)\\?"fromPort\\?"') = 1)
ORDER BY time_dt
