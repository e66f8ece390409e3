-- Calls that cross an account boundary involving an account outside the lake (or any
-- boundary with include_org_accounts): a foreign caller in our accounts, or an AssumeRole
-- from our accounts into a foreign account's role.
WITH org AS (
    SELECT array_sort(array_agg(DISTINCT accountid)) AS accounts
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
),
calls AS (
    SELECT time_dt,
           accountid,
           actor.user.uid AS principal,
           actor.user.type AS principal_type,
           src_endpoint.ip AS ip,
           api.operation AS operation,
           status,
           COALESCE(actor.user.account.uid,
                    regexp_extract(actor.user.uid, '^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):', 1)) AS caller_account,
           CASE WHEN api.operation IN ('AssumeRole', 'AssumeRoleWithWebIdentity', 'AssumeRoleWithSAML')
                THEN COALESCE(regexp_extract(json_extract_scalar(api.request.data, '$.roleArn'),
                                             '^arn:aws[a-z-]*:iam::([0-9]{12}):', 1), accountid)
                ELSE accountid END AS target_account
    FROM {table:cloud_trail_mgmt}
    WHERE time_dt >= from_iso8601_timestamp(:start)
      AND time_dt < from_iso8601_timestamp(:end)
      AND COALESCE(actor.user.type, '') <> 'AWSService'
)
SELECT principal AS "actor.user.uid",
       caller_account,
       target_account,
       ip AS "src_endpoint.ip",
       accountid,
       min(time_dt) AS first_time_dt,
       max(time_dt) AS last_time_dt,
       count(*) AS events,
       count(*) FILTER (WHERE status = 'Success') AS successes,
       slice(array_sort(array_agg(DISTINCT operation)), 1, 25) AS sample_operations,
       contains(arbitrary(org.accounts), caller_account) AS caller_in_lake,
       contains(arbitrary(org.accounts), target_account) AS target_in_lake
FROM calls CROSS JOIN org
WHERE caller_account IS NOT NULL
  AND target_account IS NOT NULL
  AND caller_account <> target_account
  AND (:include_org_accounts OR NOT (contains(org.accounts, caller_account) AND contains(org.accounts, target_account)))
  AND NOT COALESCE(caller_account IN (:trusted_accounts), false)
  AND NOT COALESCE(target_account IN (:trusted_accounts), false)
GROUP BY principal, caller_account, target_account, ip, accountid
ORDER BY first_time_dt
