"""Containment plans run against the moto server: through execute(), the boto3 snippet and the AWS CLI script."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import boto3
import pandas as pd
import pytest
from aws_fixtures import REGION, Moto

from slake_forensics.workflows import containment as c

ACCOUNT = "123456789012"  # moto's account for its default credentials
NOW = pd.Timestamp("2026-03-06T06:00:00Z")
CREDENTIALS_FROM_ENV = (  # a credential_process for the CLI profile: hands over the fake moto keys of the environment
    "import json, os; print(json.dumps({'Version': 1, 'AccessKeyId': os.environ['AWS_ACCESS_KEY_ID'], "
    "'SecretAccessKey': os.environ['AWS_SECRET_ACCESS_KEY']}))"
)


def incident() -> tuple[pd.DataFrame, str]:
    """Create the incident's resources in moto; returns (its scope, the isolation group id)."""
    iam, ec2, s3 = (boto3.client(s, region_name=REGION) for s in ("iam", "ec2", "s3"))
    iam.create_user(UserName="ci-deploy")
    leaked = iam.create_access_key(UserName="ci-deploy")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="backup-svc")
    planted = iam.create_access_key(UserName="backup-svc")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="backup-svc", Password="Attacker-Chosen-1!")
    policy = iam.create_policy(PolicyName="attacker-admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="backup-svc", PolicyArn=policy)
    iam.create_role(RoleName="web-app-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    s3.create_bucket(Bucket="acme-finance")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="isolation", Description="no rules", VpcId=vpc)["GroupId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    t = pd.Timestamp("2026-03-05T10:00:00Z")
    rows = [
        ("compromised_key", leaked, "ci-deploy", None),
        ("created_user", "backup-svc", None, None),
        ("created_key", planted, "backup-svc", None),
        ("created_login_profile", "backup-svc", None, None),
        ("attached_policy", policy, "user/backup-svc", None),
        ("role_session", "web-app-role", None, "ASIAEXAMPLESESS0003"),
        ("instance", instance, None, None),
        ("public_access_block_removed", "acme-finance", None, None),
        ("bucket_policy_changed", "acme-finance", None, "PutBucketPolicy"),
        ("attacker_ip", "203.0.113.7", None, None),
    ]
    scope = pd.DataFrame([(kind, value, ACCOUNT, REGION, owner, t, t, f"evt-{i}", detail)
                          for i, (kind, value, owner, detail) in enumerate(rows)], columns=list(c.SCOPE_COLUMNS))
    return scope, group


def assert_contained(scope: pd.DataFrame, group: str) -> None:
    """The end state every runner must reach, read back from moto."""
    iam, ec2, s3 = (boto3.client(s, region_name=REGION) for s in ("iam", "ec2", "s3"))
    value = dict(zip(scope["kind"], scope["value"], strict=False))
    keys = iam.list_access_keys(UserName="ci-deploy")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(value["compromised_key"], "Inactive")]
    assert "backup-svc" not in [u["UserName"] for u in iam.list_users()["Users"]]
    block = s3.get_public_access_block(Bucket="acme-finance")["PublicAccessBlockConfiguration"]
    assert block == c.BLOCK_ALL_PUBLIC_ACCESS
    doc = iam.get_role_policy(RoleName="web-app-role", PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Statement"][0]["Effect"] == "Deny"
    assert doc["Statement"][0]["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2026-03-06T06:00:00Z"}}
    reservation = ec2.describe_instances(InstanceIds=[value["instance"]])["Reservations"][0]
    assert [g["GroupId"] for g in reservation["Instances"][0]["SecurityGroups"]] == [group]


def run_execute(p: c.ContainmentPlan, tmp_path: Path) -> None:
    result = p.execute(confirm=True)
    assert (result["status"] == p.actions["manual"].map({True: "skipped", False: "ok"})).all(), result["message"].tolist()
    assert (result.loc[result["status"] == "ok", "request_id"] != "").all()


def run_boto3_snippet(p: c.ContainmentPlan, tmp_path: Path) -> None:
    exec(compile(p.to_boto3().replace("\nCONFIRM = False\n", "\nCONFIRM = True\n"), "plan.py", "exec"), {})


def run_cli_script(p: c.ContainmentPlan, tmp_path: Path) -> None:
    aws = shutil.which("aws")
    if aws is None or subprocess.run([aws, "--version"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("the AWS CLI is not installed")
    config = tmp_path / "aws-config"
    config.write_text(f"[profile moto]\nregion = {REGION}\ncredential_process = {sys.executable} {tmp_path / 'creds.py'}\n")
    (tmp_path / "creds.py").write_text(CREDENTIALS_FROM_ENV)
    (tmp_path / "plan.sh").write_text(p.to_cli({ACCOUNT: "moto"}))
    env = {**os.environ, "AWS_CONFIG_FILE": str(config)}
    proc = subprocess.run(["bash", "plan.sh", "--confirm"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("runner", [run_execute, run_boto3_snippet, run_cli_script], ids=["execute", "boto3", "cli"])
def test_plan_contains_the_incident_in_moto(aws: Moto, tmp_path: Path, runner: Callable[[c.ContainmentPlan, Path], None]) -> None:
    scope, group = incident()
    p = c.plan(scope, isolation_security_group=group, now=NOW)
    assert (~p.actions["manual"]).sum() == 9
    runner(p, tmp_path)
    assert_contained(scope, group)


def test_execute_reports_failures_and_foreign_accounts_and_goes_on(aws: Moto) -> None:
    scope, group = incident()
    extra = scope.iloc[:1].assign(value="AKIAEXAMPLE00000404", owner="nobody")  # a key of a user moto does not have
    foreign = scope.iloc[:1].assign(account="999999999999")  # credentials are for 123456789012
    p = c.plan(pd.concat([extra, foreign, scope], ignore_index=True), isolation_security_group=group, now=NOW)
    result = p.execute(confirm=True)
    by_target = result.set_index(["action", "target", "account"])
    missing = by_target.loc[("deactivate access key", "AKIAEXAMPLE00000404 of nobody", ACCOUNT)]
    assert missing["status"] == "error" and "NoSuchEntity" in missing["message"] and missing["request_id"]
    foreign_rows = result[(result["account"] == "999999999999") & (result["status"] != "skipped")]
    assert len(foreign_rows) and (foreign_rows["status"] == "error").all()
    assert foreign_rows["message"].str.contains("credentials of account 123456789012").all()
    assert_contained(scope, group)  # everything after the failures still ran


def test_containment_clients_are_bounded_like_the_lakes(aws: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    """execute() makes its own clients from the session factory: each gets the configured timeouts and retries."""
    monkeypatch.setenv("SLAKE_AWS_READ_TIMEOUT", "7")
    monkeypatch.setenv("SLAKE_AWS_MAX_ATTEMPTS", "2")
    clients = c._Clients(lambda account: boto3.Session(region_name=REGION))
    iam = clients._client(ACCOUNT, REGION, "iam")
    assert iam.meta.config.read_timeout == 7
    assert iam.meta.config.retries["total_max_attempts"] == 2
