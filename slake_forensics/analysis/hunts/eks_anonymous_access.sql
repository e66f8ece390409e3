-- Kubernetes API requests made anonymously (system:anonymous / system:unauthenticated).
SELECT time_dt,
       api.request.uid AS "api.request.uid",
       accountid,
       region,
       actor.user.name AS "actor.user.name",
       src_endpoint.ip AS "src_endpoint.ip",
       http_request.user_agent AS "http_request.user_agent",
       api.operation AS "api.operation",
       http_request.url.path AS "http_request.url.path",
       api.response.code AS "api.response.code",
       transform(resources, r -> concat(COALESCE(r.type, ''), '/', COALESCE(r.namespace, ''), '/', COALESCE(r.name, ''))) AS targets
FROM {table:eks_audit}
WHERE time_dt >= from_iso8601_timestamp(:start)
  AND time_dt < from_iso8601_timestamp(:end)
  AND (actor.user.name = 'system:anonymous'
       OR COALESCE(any_match(actor.user.groups, g -> g.name = 'system:unauthenticated'), false))
  AND (:include_denied OR COALESCE(api.response.code, 200) < 400)
  AND NOT COALESCE(http_request.url.path IN (:ignore_paths), false)
ORDER BY time_dt
