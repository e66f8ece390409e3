-- EC2 settings that decide what an instance runs and can reach: user data, security groups,
-- source/destination check, IMDSv2 made optional, instance profile associated or replaced.
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
           COALESCE(json_extract_scalar(api.request.data, '$.instanceId'),
                    json_extract_scalar(api.request.data, '$.networkInterfaceId'),
                    json_extract_scalar(api.request.data, '$.associationId'),
                    json_extract_scalar(api.request.data, '$.ModifyInstanceMetadataOptionsRequest.InstanceId'),
                    json_extract_scalar(api.request.data, '$.AssociateIamInstanceProfileRequest.InstanceId'),
                    json_extract_scalar(api.request.data, '$.ReplaceIamInstanceProfileAssociationRequest.AssociationId')) AS target,
           CASE
               -- CloudTrail records the attribute either as {"attribute": name, ...} or as the
               -- changed attribute's own key ({"groupSet": {...}}); one attribute per call.
               WHEN api.operation IN ('ModifyInstanceAttribute', 'ModifyNetworkInterfaceAttribute')
                   THEN COALESCE(json_extract_scalar(api.request.data, '$.attribute'),
                                 regexp_extract(api.request.data,
                                                '"(userData|groupSet|sourceDestCheck|disableApiTermination|disableApiStop|instanceType|instanceInitiatedShutdownBehavior|kernel|ramdisk|blockDeviceMapping|ebsOptimized|enaSupport|sriovNetSupport|description|attachment)"\s*:',
                                                1))
               WHEN api.operation = 'ModifyInstanceMetadataOptions' THEN 'metadataOptions'
               ELSE 'iamInstanceProfile'
           END AS attribute,
           api.request.data AS request
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND status = 'Success'
      AND api.operation IN ('ModifyInstanceAttribute', 'ModifyNetworkInterfaceAttribute', 'ModifyInstanceMetadataOptions',
                            'AssociateIamInstanceProfile', 'ReplaceIamInstanceProfileAssociation')
      -- Metadata options matter only when they allow IMDSv1 (tokens optional).
      AND (api.operation <> 'ModifyInstanceMetadataOptions'
           OR lower(COALESCE(json_extract_scalar(api.request.data, '$.httpTokens'),
                             json_extract_scalar(api.request.data, '$.ModifyInstanceMetadataOptionsRequest.HttpTokens'))) = 'optional')
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
       attribute,
       CASE attribute
           WHEN 'userData' THEN 'user data replaced (runs at the next start)'
           WHEN 'groupSet' THEN 'security groups replaced'
           WHEN 'sourceDestCheck' THEN 'source/destination check changed'
           WHEN 'metadataOptions' THEN 'IMDSv2 made optional (IMDSv1 allowed)'
           WHEN 'iamInstanceProfile' THEN 'instance profile associated or replaced'
           ELSE 'attribute changed'
       END AS detail,
       request AS "api.request.data"
FROM changes
WHERE attribute IN (:attributes)
ORDER BY time_dt
