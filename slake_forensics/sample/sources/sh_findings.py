"""Security Hub findings background: everyday noise in all three classes, as ``sh_findings_2_0`` rows.

* Compliance Finding 2003: Security Hub CSPM controls (FSBP/CIS) evaluated about daily on the org's
  buckets, instances, security groups and accounts; most PASSED, some FAILED, each (control,
  resource) one finding re-emitted as Update with the same ``finding_info.uid``.
* Vulnerability Finding 2002: Inspector CVEs on instances and ECR images with CVSS scores and
  affected packages, re-scanned every few days; a few appear mid-period.
* Detection Finding 2004: routine low-severity GuardDuty (``Recon:EC2/PortProbeUnprotectedPort``,
  ``UnauthorizedAccess:EC2/SSHBruteForce`` on the bastion, ``Policy:IAMUser/RootCredentialUsage``
  once) and rarely Macie ``Policy:IAMUser/S3BucketSharedExternally``, updated with a growing count.

Unique findings are few (entities, not events); their emissions are expanded vectorized.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import NULL, MS_PER_DAY, MS_PER_HOUR
from slake_forensics.sample.findings import (DEFAULT_TYPES, PRODUCTS, SEVERITY_NORMALIZED, SEVERITY_PRODUCT, asff_type, detector_arn,
                        finding_columns, guardduty_finding_uid)
from slake_forensics.sample.org import HOSTING_NETS, Org
from slake_forensics.sample.writer import build_table
from slake_forensics.sample.sources.vpc_flow import random_public_ips

SOURCE = SOURCES["sh_findings"]
FSBP = "standards/aws-foundational-security-best-practices/v/1.0.0"
CIS = "standards/cis-aws-foundations-benchmark/v/1.4.0"
#: control → (resource kind, severity id when failed, title, standard, requirement, probability of FAILED)
CONTROLS: dict[str, tuple[str, int, str, str, str, float]] = {
    "S3.8": ("bucket", 4, "S3 general purpose buckets should block public access", FSBP, "NIST.800-53.r5 AC-21", 0.10),
    "S3.5": ("bucket", 3, "S3 general purpose buckets should require requests to use SSL", FSBP, "NIST.800-53.r5 SC-8", 0.25),
    "S3.9": ("bucket", 3, "S3 general purpose bucket server access logging should be enabled", FSBP, "NIST.800-53.r5 AU-2", 0.45),
    "EC2.8": ("instance", 4, "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)", FSBP, "NIST.800-53.r5 AC-3", 0.35),
    "SSM.1": ("instance", 3, "EC2 instances should be managed by AWS Systems Manager", FSBP, "NIST.800-53.r5 CM-2", 0.15),
    "EC2.19": ("sg", 5, "Security groups should not allow unrestricted access to ports with high risk", FSBP, "NIST.800-53.r5 SC-7", 0.15),
    "EC2.2": ("sg", 4, "VPC default security groups should not allow inbound or outbound traffic", CIS, "CIS AWS Foundations Benchmark v1.4.0/5.3", 0.3),
    "IAM.4": ("account", 5, "IAM root user access key should not exist", CIS, "CIS AWS Foundations Benchmark v1.4.0/1.4", 0.0),
    "IAM.6": ("account", 5, "Hardware MFA should be enabled for the root user", CIS, "CIS AWS Foundations Benchmark v1.4.0/1.6", 0.4),
    "CloudTrail.1": ("account", 4, "CloudTrail should be enabled and configured with at least one multi-Region trail", CIS, "CIS AWS Foundations Benchmark v1.4.0/3.1", 0.0),
    "GuardDuty.1": ("account", 4, "GuardDuty should be enabled", FSBP, "NIST.800-53.r5 SI-4", 0.0),
    "Config.1": ("account", 3, "AWS Config should be enabled and use the service-linked role for resource recording", CIS, "CIS AWS Foundations Benchmark v1.4.0/3.5", 0.05),
}
RESOURCE_TYPES = {"bucket": "AwsS3Bucket", "instance": "AwsEc2Instance", "sg": "AwsEc2SecurityGroup", "account": "AwsAccount"}
#: CVE catalog: (cve, score, vector, package, version, fixed, package manager, epss, exploit available)
CVES = (
    ("CVE-2024-6387", 8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "openssh-server", "8.7p1-38.amzn2.0.5", "8.7p1-38.amzn2.0.8", "OS", "0.85", True),
    ("CVE-2023-4911", 7.8, "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "glibc", "2.34-52.amzn2023.0.3", "2.34-52.amzn2023.0.6", "OS", "0.72", True),
    ("CVE-2023-38545", 9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "curl", "8.2.1-1.amzn2023.0.2", "8.3.0-1.amzn2023.0.1", "OS", "0.27", False),
    ("CVE-2023-44487", 7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "nghttp2", "1.51.0-1.amzn2023.0.1", "1.57.0-1.amzn2023.0.1", "OS", "0.81", True),
    ("CVE-2024-2961", 7.3, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "glibc", "2.34-52.amzn2023.0.8", "2.34-52.amzn2023.0.10", "OS", "0.09", True),
    ("CVE-2024-0727", 5.5, "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", "openssl-libs", "3.0.8-1.amzn2023.0.9", "3.0.8-1.amzn2023.0.11", "OS", "0.01", False),
    ("CVE-2023-48795", 5.9, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:H/A:N", "openssh-clients", "8.7p1-8.amzn2023.0.7", "8.7p1-8.amzn2023.0.10", "OS", "0.96", True),
    ("CVE-2024-21626", 8.6, "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:C/C:H/I:H/A:H", "runc", "1.1.7-1.amzn2023.0.1", "1.1.11-1.amzn2023.0.1", "OS", "0.05", True),
    ("CVE-2023-45853", 9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "zlib", "1.2.11-33.amzn2023.0.4", "1.2.11-33.amzn2023.0.5", "OS", "0.02", False),
    ("CVE-2024-35195", 5.6, "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N", "requests", "2.31.0", "2.32.0", "PIP", "0.001", False),
    ("CVE-2024-37891", 4.4, "CVSS:3.1/AV:N/AC:H/PR:H/UI:N/S:U/C:H/I:N/A:N", "urllib3", "1.26.18", "1.26.19", "PIP", "0.001", False),
    ("CVE-2022-40897", 5.9, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H", "setuptools", "58.1.0", "65.5.1", "PIP", "0.004", False),
    ("CVE-2023-45288", 7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "golang.org/x/net", "v0.17.0", "0.23.0", "GOMOD", "0.14", False),
    ("CVE-2024-24790", 9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "stdlib", "go1.21.5", "1.21.11", "GOMOD", "0.02", False),
    ("CVE-2022-25883", 7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "semver", "5.7.1", "5.7.2", "NPM", "0.003", False),
    ("CVE-2024-4067", 5.3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "micromatch", "4.0.5", "4.0.8", "NPM", "0.001", False),
)
ECR_REPOS = ("orders-api", "checkout-web", "worker-jobs", "nginx-ingress")
PORTPROBE_PORTS = {"web": 80, "bastion": 22}


def _h(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _severity_of(score: float) -> int:
    return 5 if score >= 9 else 4 if score >= 7 else 3 if score >= 4 else 2


def _unique_findings(org: Org, rng: np.random.Generator, scale: float) -> list[dict[str, Any]]:
    """The org's findings (one dict per finding id) with emission schedule ``start``/``period``/``stop`` (epoch ms)."""
    start = int(org.start.value // 1_000_000)
    end = start + org.days * MS_PER_DAY
    out: list[dict[str, Any]] = []
    home = org.regions[0]
    # Compliance
    sec_groups = []
    for a in org.accounts:
        for r in org.regions:
            sec_groups.append((a.id, r, f"sg-{_h(org.seed, a.id, r, 'default')[:17]}", "default"))
            sec_groups.append((a.id, r, f"sg-{_h(org.seed, a.id, r, 'web')[:17]}", f"{org.company}-{'web' if r == home else 'app'}-sg"))
    resources: dict[str, list[tuple[str, str, str, Any]]] = {
        "bucket": [(acct, home, f"arn:aws:s3:::{b}", {"AwsS3Bucket": {"Name": b, "OwnerId": _h(acct)[:64], "CreatedAt": "2023-04-11T09:12:44.000Z"}})
                   for acct, names in org.buckets.items() for b in names],
        "instance": [(i.account.id, i.region, f"arn:aws:ec2:{i.region}:{i.account.id}:instance/{i.id}",
                      {"AwsEc2Instance": {"Type": "m5.large", "IpV4Addresses": [i.private_ip], "VpcId": i.vpc_id, "SubnetId": i.subnet_id,
                                          "IamInstanceProfileArn": f"arn:aws:iam::{i.account.id}:instance-profile/{i.role_name}"}})
                     for i in org.instances],
        "sg": [(acct, r, f"arn:aws:ec2:{r}:{acct}:security-group/{sg}", {"AwsEc2SecurityGroup": {"GroupId": sg, "GroupName": name}})
               for acct, r, sg, name in sec_groups],
        "account": [(a.id, home, f"AWS::::Account:{a.id}", None) for a in org.accounts],
    }
    for control, (kind, sev, title, standard, req, p_fail) in CONTROLS.items():
        for acct, region, uid, data in resources[kind]:
            failed = bool(rng.random() < p_fail)
            status = "FAILED" if failed else "PASSED"
            out.append({
                "product": "Security Hub", "account": acct, "region": region, "severity_id": sev if failed else 1,
                "uid": f"arn:aws:securityhub:{region}:{acct}:security-control/{control}/finding/{_uuid(org.seed, control, uid)}",
                "types": DEFAULT_TYPES["Security Hub"], "title": title,
                "desc": f"This AWS control checks that {title[0].lower()}{title[1:]}.",
                "generator": f"security-control/{control}", "status": "New" if failed else "Resolved",
                "control": control, "compliance_status": status, "standard": standard, "requirements": req,
                "status_detail": None if not failed else f"{RESOURCE_TYPES[kind]} {uid.rsplit('/', 1)[-1].rsplit(':', 1)[-1]} does not comply with {control}",
                "remediation_desc": "For information on how to correct this issue, consult the AWS Security Hub controls documentation.",
                "remediation_url": f"https://docs.aws.amazon.com/console/securityhub/{control}/remediation",
                "res_type": RESOURCE_TYPES[kind], "res_uid": uid, "res_data": None if data is None else json.dumps(data, separators=(",", ":")),
                "start": start - int(rng.integers(30, 400)) * MS_PER_DAY, "first_emit": start + int(rng.integers(0, MS_PER_DAY)),
                "period": int(MS_PER_DAY / (1.8 * scale)), "stop": end})
    # Vulnerabilities: instances and ECR images
    targets = [(i.account.id, i.region, f"arn:aws:ec2:{i.region}:{i.account.id}:instance/{i.id}", "AwsEc2Instance", "OS") for i in org.instances]
    prod = org.account("production")
    for repo in ECR_REPOS:
        digest = _h(org.seed, repo)
        targets.append((prod.id, home, f"arn:aws:ecr:{home}:{prod.id}:repository/{repo}/sha256:{digest}", "AwsEcrContainerImage", "APP"))
    for acct, region, uid, rtype, kind in targets:
        pool = [c for c in range(len(CVES)) if (CVES[c][6] == "OS") == (kind == "OS") or rng.random() < 0.3]
        for c in rng.choice(pool, min(len(pool), int(rng.integers(3, 9))), replace=False):
            cve, score, vector, pkg, ver, fixed, mgr, epss, exploit = CVES[int(c)]
            sev = _severity_of(score)
            new = bool(rng.random() < 0.2)  # most CVEs predate the period; some are published during it
            first = start + int(rng.integers(0, org.days * MS_PER_DAY)) if new else start + int(rng.integers(0, 6 * MS_PER_HOUR))
            out.append({
                "product": "Inspector", "account": acct, "region": region, "severity_id": sev,
                "uid": f"arn:aws:inspector2:{region}:{acct}:finding/{_h(org.seed, uid, cve)[:32]}",
                "types": DEFAULT_TYPES["Inspector"], "title": f"{cve} - {pkg}",
                "desc": f"{cve} affects {pkg} {ver}; upgrade to {fixed} or later.", "generator": "AWSInspector", "status": "New",
                "cve": cve, "cvss_score": score, "cvss_vector": vector, "cvss_version": "3.1", "epss": epss, "vuln_vendor": "NVD",
                "fix_available": True, "exploit_available": exploit, "vuln_desc": f"Upgrade {pkg} to {fixed}.",
                "pkg_name": pkg, "pkg_version": ver, "pkg_fixed": fixed, "pkg_mgr": mgr,
                "res_type": rtype, "res_uid": uid, "res_data": None,
                "start": first if new else first - int(rng.integers(1, 90)) * MS_PER_DAY, "first_emit": first,
                "period": int(1.5 * MS_PER_DAY / scale), "stop": end})
    # Detections: GuardDuty and Macie
    scanners = random_public_ips(rng, 40, HOSTING_NETS)
    for inst in org.instances:
        if inst.public_ip is None:
            continue
        episodes = max(1, int(rng.poisson(org.days / 5)))
        for _ in range(episodes):
            first = start + int(rng.integers(0, org.days * MS_PER_DAY - MS_PER_HOUR))
            port = PORTPROBE_PORTS.get(inst.purpose, 443)
            ftype, sev = ("UnauthorizedAccess:EC2/SSHBruteForce", 2) if inst.purpose == "bastion" and rng.random() < 0.5 else \
                ("Recon:EC2/PortProbeUnprotectedPort", 2)
            src = str(scanners[int(rng.integers(0, len(scanners)))])
            title = (f"{src} is performing SSH brute force attacks against {inst.id}." if "SSH" in ftype else
                     f"Unprotected port on EC2 instance {inst.id} is being probed.")
            out.append(_gd(org, inst.account.id, inst.region, ftype, sev, title,
                           f"EC2 instance {inst.id} has an unprotected port {port} which is being probed by a known malicious host." if "Recon" in ftype else
                           f"{src} is performing SSH brute force attacks against {inst.id}. Brute force attacks are used to gain unauthorized access to your instance by guessing the SSH password.",
                           "AwsEc2Instance", f"arn:aws:ec2:{inst.region}:{inst.account.id}:instance/{inst.id}",
                           {"src_ip": src, "dst_port": port, "protocol": "TCP", "direction": "Inbound"}, first,
                           first + int(rng.integers(6, 72)) * MS_PER_HOUR, int(3 * MS_PER_HOUR / scale), end))
    mgmt = org.accounts[0]
    root_t = start + int(rng.integers(MS_PER_DAY, org.days * MS_PER_DAY - MS_PER_DAY))
    out.append(_gd(org, mgmt.id, home, "Policy:IAMUser/RootCredentialUsage", 2,
                   "API GetAccountSummary was invoked using root credentials.",
                   f"API GetAccountSummary was invoked using root credentials from IP address {org.corporate_cidrs[0]}7.",
                   "AwsIamAccessKey", "AWS::IAM::AccessKey:root", {"src_ip": f"{org.corporate_cidrs[0]}7", "api_operation": "GetAccountSummary",
                                                                     "api_service": "iam.amazonaws.com"}, root_t, root_t + 2 * MS_PER_HOUR, MS_PER_HOUR, end))
    if rng.random() < 0.6:
        b = org.buckets[prod.id][int(rng.integers(0, len(org.buckets[prod.id]) - 2))]
        t = start + int(rng.integers(MS_PER_DAY, org.days * MS_PER_DAY - MS_PER_DAY))
        f = _gd(org, prod.id, home, "Policy:IAMUser/S3BucketSharedExternally", 3,
                f"The S3 bucket {b} is shared with an external AWS account.",
                f"The bucket policy of {b} was changed to grant an AWS account outside the organization access to the bucket.",
                "AwsS3Bucket", f"arn:aws:s3:::{b}", {"api_operation": "PutBucketPolicy", "api_service": "s3.amazonaws.com"}, t, t, MS_PER_DAY, end)
        f.update(product="Macie", uid=f"arn:aws:macie2:{home}:{prod.id}:finding/{_h(org.seed, b)[:32]}", generator="aws-macie", src_url=None)
        out.append(f)
    return out


def _uuid(*parts: object) -> str:
    h = _h(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _gd(org: Org, account: str, region: str, ftype: str, sev: int, title: str, desc: str, rtype: str, ruid: str,
        evidence: dict, first: int, last: int, period: int, end: int) -> dict[str, Any]:
    fid = _h(org.seed, account, ftype, ruid, first)[:32]
    return {"product": "GuardDuty", "account": account, "region": region, "severity_id": sev,
            "uid": guardduty_finding_uid(account, region, fid), "types": asff_type(ftype), "title": title, "desc": desc,
            "generator": detector_arn(account, region), "status": "New",
            "src_url": f"https://console.aws.amazon.com/guardduty/home?region={region}#/findings?macros=current&fId={fid}",
            "res_type": rtype, "res_uid": ruid, "res_data": None, "evidence": evidence,
            "start": first, "first_emit": first, "period": period, "stop": min(last, end - 1)}


def background(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """A ``sh_findings_2_0`` table of routine findings over the whole period (about 360 rows a day at scale 1)."""
    uf = _unique_findings(org, rng, scale)
    u = len(uf)
    end = int(org.start.value // 1_000_000) + org.days * MS_PER_DAY

    def col(key: str) -> np.ndarray:
        return np.array([f.get(key) for f in uf], dtype=object)

    first = np.array([f["first_emit"] for f in uf], dtype="int64")
    period = np.array([f["period"] for f in uf], dtype="int64")
    stop = np.minimum(np.array([f["stop"] for f in uf], dtype="int64"), end - 1)
    k = np.maximum(1, (stop - first) // period + 1)
    fidx = np.repeat(np.arange(u), k)
    n = len(fidx)
    emit = np.arange(n) - np.repeat(np.cumsum(k) - k, k)
    t = first[fidx] + emit * period[fidx] + rng.integers(0, 20 * 60_000, n)
    t = np.minimum(t, end - 1)
    order = np.argsort(t, kind="stable")
    fidx, emit, t = fidx[order], emit[order], t[order]
    created = np.array([x["start"] for x in uf], dtype="int64")[fidx]  # findings older than the period are updates from the start
    product = col("product")[fidx]
    gd = product == "GuardDuty"
    sev = np.array([f["severity_id"] for f in uf], dtype="int64")[fidx]
    count = 1 + emit * 3 + (t % 5)

    f: dict[str, Any] = {"time": t, "account": col("account")[fidx], "region": col("region")[fidx], "product": product,
                         "activity_id": np.where((emit == 0) & (created == first[fidx]), 1, 2), "severity_id": sev}
    for key in ("uid", "types", "title", "desc", "generator", "status", "src_url", "remediation_desc", "remediation_url",
                "control", "compliance_status", "standard", "requirements", "status_detail", "cve", "cvss_score", "cvss_vector",
                "cvss_version", "epss", "vuln_vendor", "fix_available", "exploit_available", "vuln_desc"):
        f[key] = col(key)[fidx]
    f["created"] = created
    f["first_seen"] = created
    f["last_seen"] = np.where(gd, t - 5 * 60_000, t)
    resources = [{"type": col("res_type")[fidx], "uid": col("res_uid")[fidx], "region": f["region"], "account": f["account"],
                  "data": col("res_data")[fidx]}]
    ev = [x.get("evidence") or {} for x in uf]
    ev_keys = sorted({key for e in ev for key in e})
    evidences = [{"present": np.where(np.array([bool(e) for e in ev])[fidx], True, NULL),
                  **{key: np.array([e.get(key) for e in ev], dtype=object)[fidx] for key in ev_keys}}]
    packages = [{"name": col("pkg_name")[fidx], "version": col("pkg_version")[fidx], "fixed_in_version": col("pkg_fixed")[fidx],
                 "package_manager": col("pkg_mgr")[fidx], "architecture": np.where(col("pkg_mgr")[fidx] == "OS", "x86_64", NULL)}]
    sev_norm = np.array([str(SEVERITY_NORMALIZED[s]) for s in range(1, 6)], dtype=object)[sev - 1]
    sev_prod = np.array([SEVERITY_PRODUCT[s] for s in range(1, 6)], dtype=object)[sev - 1]
    company = np.where(product == "Security Hub", PRODUCTS["Security Hub"][0], PRODUCTS["GuardDuty"][0])
    gd_action = np.where(np.char.find(col("types").astype(str), "PortProbe") >= 0, "PORT_PROBE",
                         np.where(np.char.find(col("types").astype(str), "RootCredential") >= 0, "AWS_API_CALL", "NETWORK_CONNECTION"))[fidx]
    unmapped = [("ProductFields.aws/guardduty/service/action/actionType", np.where(gd, gd_action, NULL)),
                ("ProductFields.aws/guardduty/service/archived", np.where(gd, "false", NULL)),
                ("ProductFields.aws/guardduty/service/count", np.where(gd, count.astype(str).astype(object), None)),
                ("ProductFields.aws/securityhub/CompanyName", company.astype(object)),
                ("ProductFields.aws/securityhub/ProductName", product),
                ("RecordState", np.where(f["compliance_status"] == "PASSED", "ARCHIVED", "ACTIVE").astype(object)),
                ("Severity.Normalized", sev_norm), ("Severity.Product", np.where(gd, sev_prod, None))]
    cols = finding_columns(f, n, resources=resources, evidences=evidences, packages=packages, unmapped=unmapped)
    return build_table(SOURCE, cols, n)
