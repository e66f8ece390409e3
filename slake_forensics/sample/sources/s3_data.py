"""Background CloudTrail S3 data events: object reads and writes of apps, CI/CD, people and AWS services.

Every principal with ``s3`` in its services touches objects in its account's buckets at its
habitual times (production workload roles also read the sensitive buckets, so those have
a baseline); CloudTrail and Config deliver log objects into the log-archive bucket.  Rows
carry ``api.request.data`` JSON with ``bucketName``/``Host``/``key``, ``resources[]``
(``AWS::S3::Object`` and ``AWS::S3::Bucket``) and ``additionalEventData.*`` in ``unmapped``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.apis import fill_template
from slake_forensics.sample.cloudtrail import amz_id_2, ct_columns, principal_identity
from slake_forensics.sample.common import NULL, MS_PER_DAY, diurnal_times, habit_times, hex_ids, is_private_ip, pick, s3_gateway_endpoint
from slake_forensics.sample.org import Org
from slake_forensics.sample.writer import build_table
from slake_forensics.sample.sources.cloud_trail_mgmt import pick_per_principal

OPS = ("GetObject", "PutObject", "HeadObject", "ListObjects", "DeleteObject")
#: Operation weights by persona (order of :data:`OPS`).
OP_WEIGHTS = {"app": (50, 25, 15, 7, 3), "cicd": (30, 40, 15, 15, 0.5), "data": (45, 15, 10, 28, 2)}
HUMAN_WEIGHTS = (40, 15, 10, 30, 5)
#: Share of a principal's habitual calls that are S3 object calls (personas not listed make none).
S3_SHARE = {"app": 0.85, "cicd": 1.0, "data": 1.1, "engineer": 0.33, "admin": 0.22}
#: Object key templates by bucket kind.
KEYS = {
    "artifacts": "builds/<r>/<h>/release.zip", "logs": "AWSLogs/<account>/elasticloadbalancing/<region>/<d>/app.<h>.log.gz",
    "backups": "db/<r>/<d>/dump-<n5>.sql.gz", "data": "raw/events/dt=<iso>/part-<n5>.snappy.parquet",
    "static-site": "assets/js/app.<h>.js", "customer": "exports/<y>/customers_<n6>.csv.gz",
    "reports": "reports/<y>/Q<q>/payroll_<n6>.xlsx",
}
#: AWS services delivering log objects into the log-archive bucket: (service, key template, objects per day per account).
SERVICE_WRITERS = (("cloudtrail.amazonaws.com", "AWSLogs/<account>/CloudTrail/<region>/<d>/<account>_CloudTrail_<region>_<h>.json.gz", 110),
                   ("config.amazonaws.com", "AWSLogs/<account>/Config/<region>/<d>/ConfigHistory/<account>_Config_<region>_<h>.json.gz", 25))
#: Object sizes (log-normal median bytes) by bucket kind.
SIZE_MEDIAN = {"artifacts": 40e6, "logs": 200e3, "backups": 800e6, "data": 30e6, "static-site": 80e3, "customer": 8e6, "reports": 400e3}


def bucket_kind(bucket: str) -> str:
    """Kind of an org bucket by its name (``customer``, ``reports``, ``artifacts``, ``logs`` …)."""
    for kind in ("customer", "reports", "static-site", "artifacts", "backups", "logs", "data"):
        if kind in bucket:
            return kind
    return "data"


def bucket_table(org: Org) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(names, owner accounts, regions)`` of all org buckets, a stable region per bucket."""
    names, owners, regions = [], [], []
    for a in org.accounts:
        for j, b in enumerate(org.buckets[a.id]):
            names.append(b)
            owners.append(a.id)
            regions.append(org.regions[0] if b in org.sensitive_buckets else org.regions[j % len(org.regions)])
    return np.asarray(names, dtype=object), np.asarray(owners, dtype=object), np.asarray(regions, dtype=object)


def object_keys(buckets: np.ndarray, t: np.ndarray, owners: np.ndarray, regions: np.ndarray,
                rng: np.random.Generator, template: str | None = None) -> np.ndarray:
    """An object key per event from its bucket's kind (or ``template``) and the event date."""
    n = len(buckets)
    t = np.asarray(t, dtype="int64")
    day0 = int(t.min() // MS_PER_DAY) if n else 0
    dayi = (t // MS_PER_DAY - day0).astype("int32")
    days = pd.to_datetime((day0 + np.arange(int(dayi.max()) + 1 if n else 0)) * MS_PER_DAY, unit="ms", utc=True)
    per_day = lambda fmt: pick(list(days.strftime(fmt)), dayi)  # noqa: E731 (one string per day, not per event)
    fills = {"d": per_day("%Y/%m/%d"), "iso": per_day("%Y-%m-%d"), "y": per_day("%Y"),
             "q": pick([str((m - 1) // 3 + 1) for m in days.month], dayi),
             "n6": pc.utf8_lpad(pa.array(rng.integers(0, 2500, n)).cast(pa.string()), 6, "0"),
             "n5": pc.utf8_lpad(pa.array(rng.integers(0, 64, n)).cast(pa.string()), 5, "0"),
             "h": pa.array(hex_ids(rng, n, 12), pa.string()),
             "r": pick(["api", "web", "worker", "orders"], rng.integers(0, 4, n))}
    out = np.empty(n, dtype=object)
    for b in sorted(set(buckets.tolist())):
        m = buckets == b
        tpl = template or KEYS[bucket_kind(b)]
        sel = pa.array(np.flatnonzero(m))
        keys, _ = fill_template(tpl, owners[m], regions[m], {}, rng, overrides={k: v.take(sel) for k, v in fills.items() if f"<{k}>" in tpl})
        out[m] = np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)
    return out


def s3_event_columns(op: np.ndarray, bucket: np.ndarray, key: np.ndarray, owner: np.ndarray, region: np.ndarray,
                     size: np.ndarray, rng: np.random.Generator) -> tuple[dict, dict, list]:
    """``(ev columns, additionalEventData, resources)`` for S3 object calls, ready for :func:`ct_columns`.

    ``size`` is the object size in bytes: ``bytesTransferredOut`` for GetObject,
    ``bytesTransferredIn`` for PutObject, 0 otherwise (HeadObject/ListObjects/DeleteObject).
    """
    n = len(op)
    b, k, r = pa.array(bucket, pa.string()), pa.array(key, pa.string()), pa.array(region, pa.string())
    host = pc.binary_join_element_wise(b, ".s3.", r, ".amazonaws.com", "")
    is_list = op == "ListObjects"
    prefix = pc.binary_join_element_wise(pc.list_element(pc.split_pattern(k, "/", max_splits=1), 0), "/", "")
    body = pc.binary_join_element_wise('{"bucketName":"', b, '","Host":"', host, '"', "")
    obj = pc.binary_join_element_wise(body, ',"key":"', k, '"}', "")
    lst = pc.binary_join_element_wise(body, ',"list-type":"2","prefix":"', prefix, '","encoding-type":"url"}', "")
    request = pc.if_else(pa.array(is_list), lst, obj)
    size = np.asarray(size, dtype="int64")
    out_bytes = np.where(op == "GetObject", size, np.where(is_list, rng.integers(600, 40_000, n), 0))
    in_bytes = np.where(op == "PutObject", size, 0)
    bucket_arn = pc.binary_join_element_wise("arn:aws:s3:::", b, "")
    obj_arn = pc.if_else(pa.array(is_list), pa.scalar(None, pa.string()), pc.binary_join_element_wise(bucket_arn, "/", k, ""))
    const_ = lambda v: pick([v], np.zeros(n, dtype="int32"))  # noqa: E731
    additional = {
        "SignatureVersion": const_("SigV4"), "CipherSuite": const_("TLS_AES_128_GCM_SHA256"),
        "bytesTransferredIn": pa.array(in_bytes).cast(pa.string()), "AuthenticationMethod": const_("AuthHeader"),
        "x-amz-id-2": pa.array(amz_id_2(rng, n), pa.string()), "bytesTransferredOut": pa.array(out_bytes).cast(pa.string()),
    }
    resources = [{"uid": obj_arn, "type": "AWS::S3::Object", "account": None},
                 {"uid": bucket_arn, "type": "AWS::S3::Bucket", "account": owner}]
    ev = {"event_source": const_("s3.amazonaws.com"), "event_name": op, "region": region,
          "recipient_account": owner, "request": request, "host": host, "data_event": np.ones(n, bool)}
    return ev, additional, resources


def background(org: Org, rng: np.random.Generator, scale: float = 1.0) -> pa.Table:
    """S3 object-level events of the whole org over the period, in the exact ``s3_data`` schema."""
    names, owners, regions = bucket_table(org)
    prod = org.account("production").id
    ts, pidxs, ops = [], [], []
    for i, p in enumerate(org.principals):
        if "s3" not in p.services or p.persona not in S3_SHARE or p.kind not in ("IAMUser", "AssumedRole"):
            continue
        t = habit_times(org, p, rng, scale * S3_SHARE[p.persona])
        w = np.asarray(OP_WEIGHTS.get(p.persona, HUMAN_WEIGHTS), dtype="float64")
        ts.append(t)
        pidxs.append(np.full(len(t), i))
        ops.append(np.asarray(OPS, dtype=object)[rng.choice(len(OPS), len(t), p=w / w.sum())])
    t, pidx, op = np.concatenate(ts), np.concatenate(pidxs), np.concatenate(ops)
    n = len(t)
    P = org.principals
    acct = np.array([p.account.id for p in P], dtype=object)[pidx]
    persona = np.array([p.persona for p in P], dtype=object)[pidx]
    # buckets: the principal's own account; production workloads also read the sensitive buckets
    bidx = np.empty(n, dtype="int64")
    for a in sorted(set(acct.tolist())):
        m = acct == a
        own = np.flatnonzero((owners == a) & ~np.isin(names, org.sensitive_buckets))
        bidx[m] = own[rng.integers(0, len(own), int(m.sum()))]
    sens = np.flatnonzero(np.isin(names, org.sensitive_buckets))
    to_sens = (acct == prod) & np.isin(persona, ["app", "data"]) & (rng.random(n) < 0.12) & (op != "DeleteObject")
    bidx[to_sens] = sens[rng.integers(0, len(sens), int(to_sens.sum()))]
    bucket, owner, region = names[bidx], owners[bidx], regions[bidx]
    key = object_keys(bucket, t, owner, region, rng)
    kinds = np.array([bucket_kind(b) for b in names], dtype=object)[bidx]
    median = np.array([SIZE_MEDIAN[k] for k in kinds])
    size = np.exp(np.log(median) + rng.normal(0, 1.0, n)).astype("int64")
    ev, additional, resources = s3_event_columns(op, bucket, key, owner, region, size, rng)
    console = np.zeros(n, bool)
    ident = principal_identity(P, pidx, t, console, rng)
    # failures: AccessDenied at the principal's error rate, NoSuchKey for some reads
    rate = np.array([p.error_rate for p in P])[pidx]
    denied = rng.random(n) < rate * 0.6
    missing = ~denied & np.isin(op, ["GetObject", "HeadObject"]) & (rng.random(n) < 0.004)
    code = np.where(denied, "AccessDenied", np.where(missing, "NoSuchKey", NULL)).astype(object)
    msg = np.where(denied, "Access Denied", np.where(missing, "The specified key does not exist.", NULL)).astype(object)
    for k in ("bytesTransferredOut", "bytesTransferredIn"):
        additional[k] = pc.if_else(pa.array(denied | missing), "0", additional[k])
    nips = np.array([len(p.ips) for p in P])[pidx]
    nuas = np.array([len(p.user_agents) for p in P])[pidx]
    ip_pick = (rng.random(n) * nips).astype("int64")
    ua_pick = np.where(np.isin(persona, ["app", "cicd"]), (rng.random(n) * nuas).astype("int64"), np.minimum(1, nuas - 1))
    source = pick_per_principal(P, "ips", pidx, ip_pick)
    ua = pick_per_principal(P, "user_agents", pidx, ua_pick)
    # callers inside a VPC reach S3 through their account's gateway endpoint
    accts = sorted(set(acct.tolist()))
    endpoint = pick([s3_gateway_endpoint(a) for a in accts], np.searchsorted(accts, acct))
    vpce = pc.if_else(pa.array(is_private_ip(source)), endpoint, pa.scalar(None, pa.string()))
    ev.update(time=t, source=source, user_agent=ua, error_code=code, error_message=msg, vpc_endpoint=vpce, **ident)
    cols, n = ct_columns(ev, rng, additional=additional, resources=resources)
    tables = [build_table(SOURCES["s3_data"], cols, n), _log_delivery(org, rng, scale)]
    return pa.concat_tables(tables)


def _log_delivery(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """CloudTrail and Config writing log objects into the log-archive bucket (AWSService, from the service domain)."""
    names, owners, regions = bucket_table(org)
    archive = org.account("log_archive") if any(a.role == "log_archive" for a in org.accounts) else org.account("security")
    logs_bucket = next(b for b in org.buckets[archive.id] if "logs" in b)
    b_region = regions[list(names).index(logs_bucket)]
    parts = []
    for svc, template, per_day in SERVICE_WRITERS:
        n = int(rng.poisson(per_day * org.days * scale * len(org.accounts) / 5))
        t = diurnal_times(org, rng, n, flatness=0.9)
        src_acct = np.asarray([a.id for a in org.accounts], dtype=object)[rng.integers(0, len(org.accounts), n)]
        src_region = np.asarray(org.regions, dtype=object)[rng.integers(0, len(org.regions), n)]
        bucket = np.full(n, logs_bucket, dtype=object)
        key = object_keys(bucket, t, src_acct, src_region, rng, template)
        size = np.exp(np.log(30e3) + rng.normal(0, 0.8, n)).astype("int64")
        ev, additional, resources = s3_event_columns(np.full(n, "PutObject", dtype=object), bucket, key,
                                                     np.full(n, archive.id, dtype=object), np.full(n, b_region, dtype=object), size, rng)
        ev.update(time=t, source=np.full(n, svc, dtype=object), user_agent=np.full(n, svc, dtype=object),
                  user_type=np.full(n, "AWSService", dtype=object), invoked_by=np.full(n, svc, dtype=object))
        cols, n = ct_columns(ev, rng, additional=additional, resources=resources)
        parts.append(build_table(SOURCES["s3_data"], cols, n))
    return pa.concat_tables(parts)
