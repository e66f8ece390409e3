-- Pods or workloads created with privileged containers, host namespaces or hostPath volumes.
WITH writes AS (
    SELECT time_dt,
           api.request.uid AS request_uid,
           accountid,
           region,
           actor.user.name AS user_name,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           api.response.code AS code,
           resources,
           unmapped,
           filter(map_keys(unmapped),
                  k -> (regexp_like(k, '^requestObject\.spec\.(.*\.)?(containers|initContainers|ephemeralContainers)\.[0-9]+\.securityContext\.privileged$')
                        AND lower(element_at(unmapped, k)) = 'true')
                    OR (regexp_like(k, '^requestObject\.spec\.(.*\.)?(hostPID|hostIPC|hostNetwork)$')
                        AND lower(element_at(unmapped, k)) = 'true')
                    OR regexp_like(k, '^requestObject\.spec\.(.*\.)?volumes\.[0-9]+\.hostPath\.path$')
                    OR (regexp_like(k, '\.securityContext\.capabilities\.add\.[0-9]+$')
                        AND upper(element_at(unmapped, k)) IN ('SYS_ADMIN', 'ALL', 'SYS_PTRACE', 'SYS_MODULE'))) AS risky
    FROM {table:eks_audit}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND api.operation IN ('create', 'update', 'patch')
      AND COALESCE(api.response.code, 200) < 400
      AND unmapped IS NOT NULL
)
SELECT time_dt,
       request_uid AS "api.request.uid",
       accountid,
       region,
       user_name AS "actor.user.name",
       ip AS "src_endpoint.ip",
       operation AS "api.operation",
       code AS "api.response.code",
       transform(resources, r -> concat(COALESCE(r.type, ''), '/', COALESCE(r.namespace, ''), '/', COALESCE(r.name, ''))) AS targets,
       transform(risky, k -> concat(k, '=', COALESCE(element_at(unmapped, k), ''))) AS risky_settings
FROM writes
WHERE cardinality(risky) > 0
  AND NOT COALESCE(any_match(resources, r -> COALESCE(r.namespace IN (:exclude_namespaces), false)), false)
ORDER BY time_dt
