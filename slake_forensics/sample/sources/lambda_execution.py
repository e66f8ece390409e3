"""Background CloudTrail Lambda data events: ``Invoke`` of the org's functions by services and roles.

Each function has its trigger: application roles call the order processor through the SDK,
S3 notifications invoke the resizer, EventBridge rules invoke forwarders on a schedule and
on events, the CI/CD user invokes the account-vending function.  Rows carry the function
ARN in ``api.request.data`` and ``resources[]`` (``AWS::Lambda::Function``) and
``additionalEventData.functionVersion`` in ``unmapped``.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.cloudtrail import ct_columns, principal_identity
from slake_forensics.sample.common import NULL, MS_PER_DAY, MS_PER_HOUR, diurnal_times
from slake_forensics.sample.org import Org
from slake_forensics.sample.writer import build_table

#: Function-name suffix → (invoker, invocations per day at scale 1, invocation type).  Invoker is
#: an AWS service domain, ``app`` (a production workload role) or ``cicd`` (a CI/CD user).
TRIGGERS = {
    "order-processor": ("app", 520, "RequestResponse"), "thumbnail-resizer": ("s3.amazonaws.com", 260, "Event"),
    "audit-forwarder": ("events.amazonaws.com", 190, "Event"), "nightly-report": ("events.amazonaws.com", 24, "Event"),
    "guardduty-notifier": ("events.amazonaws.com", 30, "Event"), "account-vending": ("cicd", 3, "RequestResponse"),
}


def background(org: Org, rng: np.random.Generator, scale: float = 1.0) -> pa.Table:
    """Lambda ``Invoke`` data events of the org's functions over the period, in the exact ``lambda_execution`` schema."""
    start = int(org.start.value // 1_000_000)
    apps = [i for i, p in enumerate(org.principals) if p.persona == "app" and p.account.role == "production"]
    cicd = [i for i, p in enumerate(org.principals) if p.persona == "cicd"]
    tables = []
    for acct, region, fn in org.lambda_functions:
        invoker, per_day, inv_type = TRIGGERS.get(fn.removeprefix(f"{org.company}-"), ("events.amazonaws.com", 20, "Event"))
        n = int(rng.poisson(per_day * org.days * scale))
        if fn.endswith("nightly-report"):  # hourly schedule, a few seconds after the hour
            t = start + np.sort(rng.integers(0, org.days * 24, n)) * MS_PER_HOUR + rng.integers(200, 4000, n)
        else:
            t = diurnal_times(org, rng, n, peak_hour_utc=15.0, flatness=0.4 if invoker == "app" else 0.7)
        t = np.minimum(t, start + org.days * MS_PER_DAY - 1)
        arn = f"arn:aws:lambda:{region}:{acct}:function:{fn}"
        ev: dict = {"time": t, "event_source": np.full(n, "lambda.amazonaws.com", dtype=object),
                    "event_name": np.full(n, "Invoke", dtype=object), "region": np.full(n, region, dtype=object),
                    "recipient_account": np.full(n, acct, dtype=object), "data_event": np.ones(n, bool), "read_only": np.zeros(n, bool)}
        if invoker in ("app", "cicd"):
            pool = np.asarray(apps if invoker == "app" else cicd[:1])
            pidx = pool[rng.integers(0, len(pool), n)]
            ident = principal_identity(org.principals, pidx, t, np.zeros(n, bool), rng)
            ev.update(ident)
            ev["source"] = np.array([p.ips[0] for p in org.principals], dtype=object)[pidx]
            ev["user_agent"] = np.array([p.user_agents[0] if p.user_agents else None for p in org.principals], dtype=object)[pidx]
            request = np.full(n, f'{{"functionName":"{arn}","invocationType":"{inv_type}","logType":"None"}}', dtype=object)
        else:
            ev.update(user_type=np.full(n, "AWSService", dtype=object), invoked_by=np.full(n, invoker, dtype=object),
                      source=np.full(n, invoker, dtype=object), user_agent=np.full(n, invoker, dtype=object))
            if invoker == "s3.amazonaws.com":
                bucket = next(b for b in org.buckets[acct] if "static-site" in b or "data" in b)
                source_arn = f"arn:aws:s3:::{bucket}"
            else:
                source_arn = f"arn:aws:events:{region}:{acct}:rule/{fn.removeprefix(org.company + '-')}-trigger"
            request = np.full(n, f'{{"functionName":"{arn}","sourceArn":"{source_arn}"}}', dtype=object)
        throttled = rng.random(n) < 0.003
        ev.update(request=request, error_code=np.where(throttled, "TooManyRequestsException", NULL).astype(object),
                  error_message=np.where(throttled, "Rate Exceeded.", NULL).astype(object))
        cols, n = ct_columns(ev, rng, additional={"functionVersion": np.full(n, f"{arn}:$LATEST", dtype=object)},
                             resources=[{"uid": np.full(n, arn, dtype=object), "type": np.full(n, "AWS::Lambda::Function", dtype=object),
                                         "account": np.full(n, acct, dtype=object)}])
        tables.append(build_table(SOURCES["lambda_execution"], cols, n))
    return pa.concat_tables(tables)
