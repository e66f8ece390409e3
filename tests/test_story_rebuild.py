"""Rebuild each incident story from its GuardDuty finding with the toolkit, then check it against the answer key.

The investigation steps start only from ``sh_findings`` (queried by finding type and product) and use
``Lake.sql``, ``Lake.pivot`` and ``Lake.fetch_rows``; nothing in them is hard-coded or read from the
answer key.  The answer key (``<lake>/answers/<story>.json``) is read only in the assertions.
"""
from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pandas as pd
import pytest

from slake_forensics import Lake
from slake_forensics.sample.bundled import ensure_sample_lake
from slake_forensics.sample.generate import generate

DAY = pd.Timedelta(days=1)
API_SOURCES = ["cloud_trail_mgmt", "s3_data"]


@pytest.fixture(scope="module", params=["generated", "bundled"])
def lake_root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if request.param == "bundled":
        return Path(ensure_sample_lake())
    root = tmp_path_factory.mktemp("story_lake")
    generate(root, seed=23, days=14, progress=False)
    return root


@pytest.fixture(scope="module")
def lake(lake_root: Path) -> Lake:
    return Lake.local(str(lake_root))


def answer(root: Path, story: str) -> dict:
    return json.loads((root / "answers" / f"{story}.json").read_text())


# ---- investigation helpers (no answer key here) ---------------------------------------------


def guardduty_findings(lake: Lake, *type_patterns: str) -> pd.DataFrame:
    """One row per (finding row, finding type, resource) of GuardDuty findings whose type matches.

    Security Hub writes ASFF types (``…/Exfiltration:S3-AnomalousBehavior``): ``_`` in the pattern
    matches the ``/`` or ``-`` between resource type and threat name.
    """
    ors = " OR ".join("t LIKE ?" for _ in type_patterns)
    sql = f"""
        SELECT time_dt, finding_info.uid AS finding_uid, t AS finding_type, r.type AS resource_type, r.uid AS resource_uid
        FROM {lake.table_name("sh_findings")}
        CROSS JOIN UNNEST(finding_info.types) AS x(t)
        CROSS JOIN UNNEST(resources) AS y(r)
        WHERE metadata.product.name = ? AND ({ors})
        ORDER BY time_dt"""
    return lake.sql(sql, ["GuardDuty", *[f"%{p}" for p in type_patterns]])


def is_public(ip: object) -> bool:
    try:
        return ipaddress.ip_address(str(ip)).is_global
    except ValueError:
        return False


def full_rows(lake: Lake, timeline: pd.DataFrame, source: str) -> pd.DataFrame:
    rows = lake.fetch_rows(timeline[timeline["source"] == source])
    return rows.get(source, pd.DataFrame())


def api_rows(lake: Lake, timeline: pd.DataFrame) -> pd.DataFrame:
    """Full CloudTrail management + S3 data rows of a timeline, with a ``source`` column."""
    frames = []
    for src in API_SOURCES:
        df = full_rows(lake, timeline, src)
        if len(df):
            frames.append(df.assign(source=src))
    df = pd.concat(frames, ignore_index=True)
    df["ip"] = df["src_endpoint.ip"].astype(object)
    df["key"] = df["actor.user.credential_uid"].astype(object)
    df["op"] = df["api.operation"].astype(object)
    df["ok"] = df["api.response.error"].isna()
    return df


def request(row: pd.Series) -> dict:
    text = row["api.request.data"]
    return json.loads(text) if isinstance(text, str) and text else {}


def response(row: pd.Series) -> dict:
    text = row["api.response.data"]
    return json.loads(text) if isinstance(text, str) and text else {}


def investigate_s3(lake: Lake) -> dict:
    f = guardduty_findings(lake, "Exfiltration:S3_AnomalousBehavior", "Discovery:S3_MaliciousIPCaller")
    assert len(f), "no S3 GuardDuty finding"
    keys = f.loc[f["resource_type"] == "AwsIamAccessKey", "resource_uid"].astype(object).unique().tolist()
    assert len(keys) == 1
    key = keys[0]
    first = f["time_dt"].min()
    start, end = first - 2 * DAY, first + 3 * DAY

    # the key owner's usual IPs: those the key used in the week before the window
    base = lake.pivot(access_key=key, start=start - 7 * DAY, end=start, sources=API_SOURCES, progress=False)
    base_rows = api_rows(lake, base)
    usual_ips = set(base_rows.loc[base_rows["key"] == key, "ip"])

    tl = lake.pivot(access_key=key, start=start, end=end, sources=API_SOURCES, progress=False)
    rows = api_rows(lake, tl)
    by_key = rows[rows["key"] == key]
    attacker_ips = set(by_key["ip"]) - usual_ips
    bad = by_key[by_key["ip"].isin(attacker_ips)]

    # persistence: identities the key created
    users = [request(r).get("userName") for _, r in bad[(bad["op"] == "CreateUser") & bad["ok"]].iterrows()]
    created_keys = [response(r).get("accessKey", {}).get("accessKeyId")
                    for _, r in bad[(bad["op"] == "CreateAccessKey") & bad["ok"]].iterrows()]
    all_keys = [key, *created_keys]

    # bucket and exfiltration volume from the S3 data events
    data = bad[bad["source"] == "s3_data"]
    buckets = data.apply(lambda r: request(r).get("bucketName"), axis=1).value_counts()
    bucket = buckets.index[0]
    gets = data[(data["op"] == "GetObject") & data["ok"]]
    out_bytes = gets["unmapped"].map(lambda m: int(dict(m).get("additionalEventData.bytesTransferredOut", 0) or 0))

    # containment: another principal deactivating/deleting those keys/users or restoring the bucket
    tl2 = lake.pivot(access_key=all_keys, bucket=bucket, start=start, end=end, sources=API_SOURCES, progress=False)
    rows2 = api_rows(lake, tl2)
    actions = rows2[rows2["op"].isin(["UpdateAccessKey", "DeleteAccessKey", "DeleteUser", "PutPublicAccessBlock"])
                    & rows2["ok"] & ~rows2["key"].isin(all_keys) & (rows2["time_dt"] > bad["time_dt"].min())]

    def contains(r: pd.Series) -> bool:
        req = request(r)
        return (req.get("accessKeyId") in all_keys and req.get("status", "Inactive") == "Inactive") \
            or req.get("userName") in users or req.get("bucketName") == bucket
    actions = actions[actions.apply(contains, axis=1)]
    containment = actions["time_dt"].min()

    # the actor's attempts after containment, with any of its keys, that failed
    by_actor = rows2[rows2["key"].isin(all_keys) & rows2["ip"].isin(attacker_ips)]
    retries = by_actor[(by_actor["time_dt"] > containment) & ~by_actor["ok"]]
    return {
        "finding_key": key, "ips": attacker_ips, "bucket": bucket, "objects_read": len(gets),
        "bytes_out": int(out_bytes.sum()), "users": users, "created_keys": created_keys,
        "containment": containment, "containment_ops": actions.sort_values("time_dt")["op"].tolist(),
        "failed_retries": len(retries),
    }


def investigate_ec2(lake: Lake) -> dict:
    f = guardduty_findings(lake, "CryptoCurrency:EC2_BitcoinTool.B!DNS", "CryptoCurrency:EC2_BitcoinTool.B",
                           "UnauthorizedAccess:IAMUser_InstanceCredentialExfiltration.OutsideAWS")
    assert len(f), "no EC2 GuardDuty finding"
    crypto = f[f["finding_type"].str.contains("CryptoCurrency:EC2", regex=False)]
    arns = crypto.loc[crypto["resource_type"] == "AwsEc2Instance", "resource_uid"].astype(object).unique().tolist()
    assert len(arns) == 1
    instance = arns[0].rsplit("/", 1)[-1]
    first = crypto["time_dt"].min()
    start, end = first - 2 * DAY, first + 3 * DAY

    base = lake.pivot(instance=instance, start=start - 7 * DAY, end=first - pd.Timedelta(hours=6),
                      sources=["vpc_flow"], progress=False)
    tl = lake.pivot(instance=instance, start=start, end=end, sources=["vpc_flow", "route53"], progress=False)

    # pool IPs: sustained outbound flows of the instance to public addresses on ports other than
    # web ports, to destinations it never reached in its baseline
    def outbound(df: pd.DataFrame) -> pd.DataFrame:
        df = df[(df["source"] == "vpc_flow") & (df["actor"].astype(object) == instance)]
        return df.assign(dest=df["target"].astype(object), ip=df["dst_ip"].astype(object),
                         port=df["target"].astype(object).str.rsplit(":", n=1).str[-1].astype(int))
    seen = set(outbound(base)["dest"])
    flows = outbound(tl)
    new = flows[~flows["dest"].isin(seen) & flows["ip"].map(is_public) & ~flows["port"].isin([80, 443])]
    counts = new.groupby("ip").size()
    pool_ips = set(counts[counts >= 10].index)

    # mining domains: names the instance resolved to those pool addresses
    dns = full_rows(lake, tl, "route53")
    resolved = dns.apply(lambda r: {a["rdata"] for a in (r["answers"] if r["answers"] is not None else []) if a.get("rdata")}, axis=1)
    domains = set(dns.loc[resolved.map(lambda s: bool(s & pool_ips)), "query.hostname"].astype(object))

    # stolen credentials: CloudTrail calls with the finding's key from public (outside AWS) addresses
    cred = f[f["finding_type"].str.contains("InstanceCredentialExfiltration", regex=False)]
    keys = cred.loc[cred["resource_type"] == "AwsIamAccessKey", "resource_uid"].astype(object).unique().tolist()
    assert len(keys) == 1
    ct = lake.pivot(access_key=keys, start=start, end=end, sources=["cloud_trail_mgmt"], progress=False)
    rows = api_rows(lake, ct)
    outside = rows[rows["key"].isin(keys) & rows["ip"].map(is_public)]
    return {"instance": instance, "pool_ips": pool_ips, "domains": domains, "keys": keys,
            "outside_ips": set(outside["ip"]), "outside_calls": len(outside),
            "outside_denied": int((~outside["ok"]).sum())}


# ---- the tests: rebuild, then compare with the answer key ------------------------------------


def test_s3_story_rebuilt_from_finding(lake: Lake, lake_root: Path) -> None:
    got = investigate_s3(lake)
    key = answer(lake_root, "s3_data_access")
    assert got["finding_key"] in key["access_keys"]
    assert got["ips"] == set(key["ips"])
    assert got["bucket"] in key["buckets"]
    assert got["objects_read"] == key["metrics"]["objects_read"]
    assert got["bytes_out"] == key["metrics"]["bytes_exfiltrated"]
    persistence = {(p["type"], p["value"]) for p in key["persistence"]}
    assert {("IAMUser", u) for u in got["users"]} | {("AccessKey", k) for k in got["created_keys"]} == persistence
    assert set(got["created_keys"]) | {got["finding_key"]} == set(key["access_keys"])
    assert abs(got["containment"] - pd.Timestamp(key["containment"])) <= pd.Timedelta(seconds=1)
    assert got["failed_retries"] == key["metrics"]["failed_retries_after_containment"]


def test_ec2_story_rebuilt_from_finding(lake: Lake, lake_root: Path) -> None:
    got = investigate_ec2(lake)
    key = answer(lake_root, "ec2_cryptomining")
    assert got["instance"] in key["instances"]
    assert got["pool_ips"] and got["pool_ips"] <= set(key["ips"])
    assert got["domains"] and got["domains"] <= set(key["domains"])
    assert set(got["keys"]) <= set(key["access_keys"])
    assert got["outside_ips"] and got["outside_ips"] <= set(key["ips"])
    assert got["pool_ips"] | got["outside_ips"] == set(key["ips"])
    assert got["outside_calls"] == key["metrics"]["outside_api_calls"]
    assert got["outside_denied"] == key["metrics"]["outside_api_calls_denied"]
