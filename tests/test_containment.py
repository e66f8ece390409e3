"""Containment plans: derivation per kind, order, merging, hostile values, scripts and the confirm gate (no AWS)."""
from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.exceptions import ClientError

from slake_forensics.workflows import containment as c
from slake_forensics.core.errors import SlakeError

A, B = "111122223333", "444455556666"
NOW = "2026-03-06T06:00:00Z"
SG = "sg-0isolate000000001"
CANARY = "pwned"
HOSTILE = (
    f"; touch {CANARY} #",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    "a'b\"c\\d",
    f"line1\ntouch {CANARY}\r\n",
    "--endpoint-url=http://evil.example",
    "ünï 😀 \u2028x",
)


def t(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def scope_of(*rows: tuple) -> pd.DataFrame:
    """A scope frame from (kind, value, account, region, owner, first, last, uid, detail) tuples; times as strings."""
    fixed = [(*r[:5], t(r[5]) if r[5] else pd.NaT, t(r[6]) if r[6] else pd.NaT, *r[7:]) for r in rows]
    return pd.DataFrame(fixed, columns=list(c.SCOPE_COLUMNS))


def sample_scope() -> pd.DataFrame:
    """Every kind once (the CI key twice, in two regions), plus a kind the planner does not know."""
    return scope_of(
        ("compromised_key", "AKIAEXAMPLECI000001", A, "us-east-1", "ci-deploy", "2026-03-05T09:12", "2026-03-05T11:40", "evt-001", None),
        ("compromised_key", "AKIAEXAMPLECI000001", A, "eu-west-1", "ci-deploy", "2026-03-05T09:30", "2026-03-05T12:00", "evt-009", None),
        ("created_user", "backup-svc", A, "us-east-1", None, "2026-03-05T10:01", "2026-03-05T10:01", "evt-002", None),
        ("created_key", "AKIAEXAMPLEBK000002", A, "us-east-1", "backup-svc", "2026-03-05T10:02", "2026-03-05T10:02", "evt-003", None),
        ("created_login_profile", "backup-svc", A, "us-east-1", None, "2026-03-05T10:03", "2026-03-05T10:03", "evt-004", None),
        ("attached_policy", "arn:aws:iam::aws:policy/AdministratorAccess", A, "us-east-1", "user/backup-svc",
         "2026-03-05T10:04", "2026-03-05T10:04", "evt-005", None),
        ("role_session", "web-app-role", A, "us-east-1", None, "2026-03-06T02:00", "2026-03-06T05:00", "evt-006", "ASIAEXAMPLESESS0003"),
        ("compromised_key", "ASIAEXAMPLESESS0003", A, "us-east-1", None, "2026-03-06T02:00", "2026-03-06T05:00", "evt-006", None),
        ("instance", "i-0abc1234def567890", A, "us-east-1", None, "2026-03-06T01:00", "2026-03-06T04:00", "evt-007", None),
        ("public_access_block_removed", "acme-finance", A, "us-east-1", None, "2026-03-05T10:10", "2026-03-05T10:10", "evt-010", None),
        ("bucket_policy_changed", "acme-finance", A, "us-east-1", None, "2026-03-05T10:11", "2026-03-05T10:11", "evt-011", "PutBucketPolicy"),
        ("attacker_ip", "203.0.113.7", A, "us-east-1", None, "2026-03-05T09:12", "2026-03-06T05:00", "evt-001", None),
        ("dns_tunnel", "xk2.evil.example", A, "us-east-1", None, None, None, None, None),
    )


def rows_of(p: c.ContainmentPlan) -> list[tuple]:
    return list(p.actions[["phase", "action", "target", "manual"]].itertuples(index=False, name=None))


def test_every_kind_in_order_with_real_api_calls() -> None:
    p = c.plan(sample_scope(), isolation_security_group=SG, now=NOW)
    assert list(p.actions.columns) == list(c.ACTION_COLUMNS)
    assert p.actions["step"].tolist() == list(range(1, 18))
    assert rows_of(p) == [
        ("containment", "deactivate access key", "AKIAEXAMPLEBK000002 of backup-svc", False),
        ("containment", "deactivate access key", "AKIAEXAMPLECI000001 of ci-deploy", False),
        ("containment", "revoke role sessions", "web-app-role", False),
        ("containment", "preserve instance evidence", "i-0abc1234def567890", True),
        ("containment", "isolate instance", "i-0abc1234def567890", False),
        ("containment", "block public access", "acme-finance", False),
        ("containment", "restore bucket policy", "acme-finance", True),
        ("containment", "revoke temporary key", "ASIAEXAMPLESESS0003", True),
        ("containment", "deny attacker IPs", "1 attacker IP(s)", True),
        ("containment", "review unknown kind", "xk2.evil.example", True),
        ("eradication", "delete login profile", "backup-svc", False),
        ("eradication", "detach policy", "arn:aws:iam::aws:policy/AdministratorAccess from user/backup-svc", False),
        ("eradication", "delete access key", "AKIAEXAMPLEBK000002 of backup-svc", False),
        ("eradication", "delete user", "backup-svc", False),
        ("recovery", "rotate access key", "AKIAEXAMPLECI000001 of ci-deploy", True),
        ("recovery", "rebuild instance", "i-0abc1234def567890", True),
        ("recovery", "verify attacker IP silent", "203.0.113.7", True),
    ]
    calls = {r.step: (r.service, r.method, r.kwargs) for r in p.actions.itertuples() if isinstance(r.service, str)}
    revoke = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                                                      "Condition": {"DateLessThan": {"aws:TokenIssueTime": NOW}}}]}
    assert calls[2] == ("iam", "update_access_key", {"UserName": "ci-deploy", "AccessKeyId": "AKIAEXAMPLECI000001", "Status": "Inactive"})
    assert calls[3][:2] == ("iam", "put_role_policy")
    assert calls[3][2]["RoleName"] == "web-app-role" and calls[3][2]["PolicyName"] == "AWSRevokeOlderSessions"
    assert json.loads(calls[3][2]["PolicyDocument"]) == revoke
    assert calls[4] == ("ec2", "describe_instances", {"InstanceIds": ["i-0abc1234def567890"]})
    assert calls[5] == ("ec2", "modify_instance_attribute", {"InstanceId": "i-0abc1234def567890", "Groups": [SG]})
    assert calls[6] == ("s3", "put_public_access_block", {"Bucket": "acme-finance", "ExpectedBucketOwner": A, "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
    assert calls[7] == ("s3", "get_bucket_policy", {"Bucket": "acme-finance", "ExpectedBucketOwner": A})
    assert json.loads(calls[9][2]["PolicyDocument"])["Statement"][0]["Condition"] == {"IpAddress": {"aws:SourceIp": ["203.0.113.7"]}}
    assert calls[11] == ("iam", "delete_login_profile", {"UserName": "backup-svc"})
    assert calls[12] == ("iam", "detach_user_policy", {"UserName": "backup-svc", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    assert calls[13] == ("iam", "delete_access_key", {"UserName": "backup-svc", "AccessKeyId": "AKIAEXAMPLEBK000002"})
    assert calls[14] == ("iam", "delete_user", {"UserName": "backup-svc"})
    assert set(calls) == {1, 2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 14, 15}  # 8, 10, 16, 17: manual, nothing to suggest

    a = p.actions.set_index("step")
    assert a.loc[3, "cli"] == (
        "aws iam put-role-policy --role-name=web-app-role --policy-name=AWSRevokeOlderSessions "
        + shlex.quote("--policy-document=" + calls[3][2]["PolicyDocument"])
    )
    assert a.loc[6, "cli"].startswith("aws s3api put-public-access-block --bucket=acme-finance ")
    assert a.loc[12, "boto3"] == ("iam.detach_user_policy(UserName='backup-svc', "
                                  "PolicyArn='arn:aws:iam::aws:policy/AdministratorAccess')")
    assert a.loc[2, "why"] == ("compromised_key seen 2026-03-05T09:12:00Z → 2026-03-05T12:00:00Z in 2 scope row(s), "
                               "evidence evt-001 (+1 more)")
    assert "web-app-role" in a.loc[8, "note"]  # the session key is covered by the role's revocation
    assert (a.loc[10, "cli"], a.loc[10, "boto3"], a.loc[10, "method"]) == ("", "", None)
    assert "dns_tunnel" in a.loc[10, "why"] and "'dns_tunnel'" in a.loc[10, "note"]


def test_repeated_items_merge_and_one_key_both_compromised_and_created_is_one_action() -> None:
    rows = [("created_key", "AKIAEXAMPLE00000009", A, r, "mallory", f"2026-03-05T1{i}:00", f"2026-03-05T1{i}:30", f"e{i}", None)
            for i, r in enumerate(["us-east-1", "eu-west-1", "us-east-1"])]
    rows.append(("compromised_key", "AKIAEXAMPLE00000009", A, "us-east-1", "mallory", "2026-03-05T09:00", "2026-03-05T09:05", "e9", None))
    rows.append(("instance", "i-0aaa", A, "us-east-1", None, "2026-03-05T09:00", None, "e7", None))
    rows.append(("instance", "i-0aaa", A, "us-east-1", None, "2026-03-05T08:00", "2026-03-05T10:00", None, None))
    p = c.plan(scope_of(*rows), isolation_security_group=SG, now=NOW)
    deactivate = p.actions[p.actions["action"] == "deactivate access key"]
    assert len(deactivate) == 1
    why = deactivate["why"].iloc[0]
    assert why.startswith("compromised_key seen 2026-03-05T09:00:00Z → 2026-03-05T09:05:00Z in 1 scope row(s), evidence e9")
    assert "created_key seen 2026-03-05T10:00:00Z → 2026-03-05T12:30:00Z in 3 scope row(s), evidence e0 (+2 more)" in why
    assert (p.actions["action"] == "isolate instance").sum() == 1
    isolate = p.actions[p.actions["action"] == "isolate instance"].iloc[0]
    assert isolate["why"] == "instance seen 2026-03-05T08:00:00Z → 2026-03-05T10:00:00Z in 2 scope row(s), evidence e7"
    assert not p.actions.duplicated(["action", "target"]).any()


def test_instances_without_a_group_or_with_one_per_instance() -> None:
    rows = [("instance", iid, A, "us-east-1", None, "2026-03-05T09:00", "2026-03-05T09:00", "e1", None) for iid in ("i-01", "i-02")]
    manual = c.plan(scope_of(*rows), now=NOW).actions
    isolate = manual[manual["action"] == "isolate instance"]
    assert isolate["manual"].all() and isolate["method"].tolist() == ["describe_instances"] * 2
    assert "isolation_security_group" in isolate["note"].iloc[0]
    mapped = c.plan(scope_of(*rows), isolation_security_group={"i-01": "sg-1", "i-02": "sg-2"}, now=NOW).actions
    isolate = mapped[mapped["action"] == "isolate instance"]
    assert [k["Groups"] for k in isolate["kwargs"]] == [["sg-1"], ["sg-2"]] and not isolate["manual"].any()


def test_keys_and_policies_that_cannot_be_acted_on_become_manual_rows() -> None:
    p = c.plan(scope_of(
        ("compromised_key", "ASIAEXAMPLE0000LOST", A, "us-east-1", None, "2026-03-05T09:00", "2026-03-05T09:00", "e1", None),
        ("compromised_key", "AKIAEXAMPLE000NOBODY", A, "us-east-1", None, "2026-03-05T09:00", "2026-03-05T09:00", "e2", None),
        ("attached_policy", "arn:aws:iam::111122223333:policy/p", A, "us-east-1", "who-knows", "2026-03-05T09:00", None, "e3", None),
        ("attached_policy", "arn:aws:iam::111122223333:policy/p", A, "us-east-1", "role/app", "2026-03-05T09:00", None, "e4", None),
        ("attached_policy", "arn:aws:iam::111122223333:policy/p", A, "us-east-1", "group/ops", "2026-03-05T09:00", None, "e5", None),
    ), now=NOW)
    got = {(r.action, r.manual, r.method) for r in p.actions.itertuples()}
    assert got == {
        ("revoke temporary key", True, None),
        ("find key owner", True, "get_access_key_last_used"),
        ("find policy attachments", True, "list_entities_for_policy"),
        ("detach policy", False, "detach_role_policy"),
        ("detach policy", False, "detach_group_policy"),
    }
    assert "lake.pivot(access_key=" in p.actions.loc[p.actions["action"] == "revoke temporary key", "note"].iloc[0]


def test_deny_policy_per_account_lists_its_ips() -> None:
    p = c.plan(scope_of(*[("attacker_ip", ip, acct, "us-east-1", None, "2026-03-05T09:00", "2026-03-05T09:00", f"e{ip}", None)
                          for ip, acct in (("203.0.113.7", A), ("198.51.100.2", A), ("192.0.2.1", B))]), now=NOW)
    deny = p.actions[p.actions["action"] == "deny attacker IPs"]
    assert deny["account"].tolist() == [A, B] and deny["manual"].all()
    ips = [json.loads(k["PolicyDocument"])["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"] for k in deny["kwargs"]]
    assert ips == [["203.0.113.7", "198.51.100.2"], ["192.0.2.1"]]
    assert (p.actions["action"] == "verify attacker IP silent").sum() == 3


def test_scope_contract_violations_are_reported() -> None:
    good = sample_scope()
    with pytest.raises(c.ContainmentInputError, match="lacks column"):
        c.plan(good.drop(columns=["evidence_uid"]), now=NOW)
    with pytest.raises(c.ContainmentInputError, match="12-digit account"):
        c.plan(good.assign(account=[*good["account"][:-1], "1234"]), now=NOW)
    with pytest.raises(c.ContainmentInputError, match="last misuse of role 'web-app-role'"):
        c.plan(good, now="2026-03-06T04:00:00Z")
    assert issubclass(c.ContainmentInputError, SlakeError)
    assert c.plan(good.iloc[:0], now=NOW).actions.empty
    assert c.plan(good, now="2026-03-06T05:00:00.250Z").cutoff == t("2026-03-06T05:00:01")  # rounded up, never down


# --- hostile values -------------------------------------------------------------------------------

def hostile_scope() -> pd.DataFrame:
    rows = []
    for i, h in enumerate(HOSTILE):
        when = f"2026-03-05T10:{i:02d}"
        rows += [
            ("compromised_key", f"AKIA{h}", A, "us-east-1", h, when, when, h, h),
            ("created_user", h, A, "us-east-1", None, when, when, h, None),
            ("created_key", h, A, "us-east-1", h, when, when, h, None),
            ("created_login_profile", h, A, "us-east-1", None, when, when, h, None),
            ("attached_policy", h, A, "us-east-1", f"user/{h}", when, when, h, None),
            ("role_session", h, A, "us-east-1", None, when, when, h, h),
            ("instance", h, A, "us-east-1", None, when, when, h, None),
            ("public_access_block_removed", h, B, h, None, when, when, h, None),
            ("bucket_policy_changed", h, B, "eu-west-1", None, when, when, h, h),
            ("attacker_ip", h, A, "us-east-1", None, when, when, h, None),
            (h, h, A, "us-east-1", h, when, when, h, h),
        ]
    return scope_of(*rows)


@pytest.fixture(scope="module")
def hostile_plan() -> c.ContainmentPlan:
    return c.plan(hostile_scope(), isolation_security_group=HOSTILE[0], now=NOW)


def test_hostile_values_stay_single_arguments_in_cli_and_literals_in_boto3(hostile_plan: c.ContainmentPlan) -> None:
    acts = hostile_plan.actions
    assert len(acts) > 10 * len(HOSTILE)
    for r in acts[acts["cli"] != ""].itertuples():
        service = {"s3": "s3api"}.get(r.service, r.service)
        argv = shlex.split(r.cli)
        assert argv[:3] == ["aws", service, r.method.replace("_", "-")]
        assert len(argv) == 3 + len(r.kwargs), r.cli  # one token per parameter, whatever the values hold
        for token, (name, value) in zip(argv[3:], r.kwargs.items(), strict=True):
            text = value[0] if isinstance(value, list) and len(value) == 1 else value
            assert token.split("=", 1)[1] == (text if isinstance(text, str) else json.dumps(text)), name
        call = ast.parse(r.boto3, mode="eval").body
        assert ast.unparse(call.func) == f"{r.service}.{r.method}" and not call.args
        assert {k.arg: ast.literal_eval(k.value) for k in call.keywords} == r.kwargs
    update = acts[(acts["method"] == "update_access_key") & (acts["target"] == f"{HOSTILE[0]} of {HOSTILE[0]}")]
    assert shlex.split(update["cli"].iloc[0]) == [
        "aws", "iam", "update-access-key", f"--user-name={HOSTILE[0]}", f"--access-key-id={HOSTILE[0]}", "--status=Inactive"]
    for col in ("why", "note"):
        assert not acts[col].str.contains("\n|\r|\u2028", regex=True).any()
    assert "<script" not in c.ContainmentPlan(acts.assign(why="<script>x</script>"), hostile_plan.cutoff)._repr_html_()


FAKE_AWS = """#!{python}
import json, os, sys
with open(os.environ["FAKE_AWS_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if "get-caller-identity" in sys.argv:
    print(os.environ["FAKE_AWS_ACCOUNT_" + sys.argv[sys.argv.index("--profile") + 1].split(";")[0]])
"""


def run_script(text: str, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run a to_cli() script under bash with a fake ``aws`` that logs its argv; returns (process, argvs)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text(FAKE_AWS.format(python=sys.executable))
    (bin_dir / "aws").chmod(0o755)
    (tmp_path / "plan.sh").write_text(text)
    log = tmp_path / "aws.log"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_AWS_LOG": str(log), f"FAKE_AWS_ACCOUNT_{A}": A, f"FAKE_AWS_ACCOUNT_{B}": B}
    proc = subprocess.run(["bash", "plan.sh", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return proc, [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_cli_script_runs_each_value_as_one_inert_argument(hostile_plan: c.ContainmentPlan, tmp_path: Path) -> None:
    profiles = {A: f"{A}; touch {CANARY}", B: B}
    proc, argvs = run_script(hostile_plan.to_cli(profiles), tmp_path, "--confirm")
    assert proc.returncode == 0, proc.stderr
    runnable = hostile_plan.actions[~hostile_plan.actions["manual"]]
    first = runnable.drop_duplicates("account")
    expected = [["--profile", profiles[acct], "--region", region, "sts", "get-caller-identity", "--query", "Account",
                 "--output", "text"] for acct, region in zip(first["account"], first["region"], strict=True)]
    assert set(first["region"]) - {"us-east-1"} <= set(HOSTILE) and len(set(first["region"])) == 2  # a hostile region too
    expected += [["--profile", profiles[r.account], "--region", r.region, *shlex.split(r.cli)[1:]] for r in runnable.itertuples()]
    assert argvs == expected
    assert not list(tmp_path.rglob(f"*{CANARY}*")), "a value was executed by the shell"


def test_cli_script_refuses_without_confirm_and_checks_the_account(hostile_plan: c.ContainmentPlan, tmp_path: Path) -> None:
    proc, argvs = run_script(hostile_plan.to_cli({A: A, B: B}), tmp_path)
    assert proc.returncode == 2 and "--confirm" in proc.stderr and argvs == []
    proc, argvs = run_script(hostile_plan.to_cli({A: B, B: B}), tmp_path, "--confirm")
    assert proc.returncode == 1 and f"not {A}" in proc.stderr and len(argvs) == 1
    proc, _ = run_script(hostile_plan.to_cli(), tmp_path, "--confirm")
    assert proc.returncode != 0 and f"export PROFILE_{A}=" in proc.stderr


class FakeBoto3(types.ModuleType):
    """A stand-in ``boto3`` module recording (profile, service, region, method, kwargs) of every call."""

    def __init__(self, accounts: dict[str | None, str]) -> None:
        super().__init__("boto3")
        self.calls: list[tuple] = []
        module = self

        class Session:
            def __init__(self, profile_name: str | None = None) -> None:
                self.profile = profile_name

            def client(self, service: str, region_name: str, **options: Any) -> Any:
                session = self

                class Client:
                    def __getattr__(self, method: str) -> Any:
                        def call(**kwargs: Any) -> dict[str, Any]:
                            module.calls.append((session.profile, service, region_name, method, kwargs))
                            return {"Account": accounts[session.profile], "ResponseMetadata": {"RequestId": "r"}}
                        return call
                return Client()

        self.Session = Session


def test_boto3_snippet_compiles_refuses_without_confirm_and_makes_exactly_the_plan_calls(
    hostile_plan: c.ContainmentPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = hostile_plan.to_boto3({A: HOSTILE[3]})
    fake = FakeBoto3({HOSTILE[3]: A, None: B})
    monkeypatch.setitem(sys.modules, "boto3", fake)
    with pytest.raises(SystemExit, match="CONFIRM = True"):
        exec(compile(text, "plan.py", "exec"), {})
    assert fake.calls == []
    exec(compile(text.replace("\nCONFIRM = False\n", "\nCONFIRM = True\n"), "plan.py", "exec"), {})
    made = [call for call in fake.calls if call[3] != "get_caller_identity"]
    runnable = hostile_plan.actions[~hostile_plan.actions["manual"]]
    profile = {A: HOSTILE[3], B: None}
    assert made == [(profile[r.account], r.service, r.region, r.method, r.kwargs) for r in runnable.itertuples()]
    assert [call[0] for call in fake.calls if call[3] == "get_caller_identity"] == [HOSTILE[3], None]


# --- execute ---------------------------------------------------------------------------------------

def test_execute_refuses_without_an_explicit_true() -> None:
    p = c.plan(sample_scope(), isolation_security_group=SG, now=NOW)
    for confirm in (False, "yes", 1):
        with pytest.raises(c.NotConfirmedError, match=r"execute\(confirm=True\)") as info:
            p.execute(confirm=confirm, session_factory=lambda account: pytest.fail("no session before confirmation"))
        assert A in str(info.value) and isinstance(info.value, SlakeError)


class StubSession:
    """A boto3-like session for one account whose calls fail when their method is in ``fail``."""

    def __init__(self, account: str, fail: set[str], log: list) -> None:
        self.account, self.fail, self.log = account, fail, log

    def client(self, service: str, region_name: str, **options: Any) -> Any:
        return types.SimpleNamespace(**{m: self._method(m) for m in (
            "get_caller_identity", "update_access_key", "put_role_policy", "modify_instance_attribute",
            "put_public_access_block", "delete_login_profile", "detach_user_policy", "delete_access_key", "delete_user")})

    def _method(self, method: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.log.append(method)
            meta = {"RequestId": f"req-{len(self.log)}", "HTTPStatusCode": 200}
            if method in self.fail:
                raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": "gone"}, "ResponseMetadata": meta}, method)
            return {"Account": self.account, "ResponseMetadata": meta}
        return call


def test_execute_runs_in_order_continues_past_failures_and_skips_manual_rows() -> None:
    p = c.plan(sample_scope(), isolation_security_group=SG, now=NOW)
    log: list[str] = []
    result = p.execute(confirm=True, session_factory=lambda account: StubSession(account, {"put_role_policy"}, log))
    assert list(result.columns) == list(c.RESULT_COLUMNS)
    assert result["step"].tolist() == p.actions["step"].tolist()
    assert (result["status"] == "skipped").tolist() == p.actions["manual"].tolist()
    assert result.loc[result["action"] == "revoke role sessions", "status"].item() == "error"
    assert "NoSuchEntity" in result.loc[result["action"] == "revoke role sessions", "message"].item()
    ok = result[result["status"] == "ok"]
    assert len(ok) == (~p.actions["manual"]).sum() - 1 and ok["request_id"].str.startswith("req-").all()
    assert result["request_id"][result["status"] == "error"].str.startswith("req-").all()
    assert log == ["get_caller_identity", *p.actions.loc[~p.actions["manual"], "method"]]
    assert str(result["time"].dt.tz) == "UTC" and result["time"].is_monotonic_increasing


def test_execute_refuses_credentials_of_another_account_per_account() -> None:
    scope = sample_scope()
    scope = pd.concat([scope, scope.assign(account=B)], ignore_index=True)
    p = c.plan(scope, isolation_security_group=SG, now=NOW)
    result = p.execute(confirm=True, session_factory=lambda account: StubSession(A, set(), []))
    runnable = result[~p.actions["manual"].to_numpy()]
    assert (runnable.loc[runnable["account"] == A, "status"] == "ok").all()
    wrong = runnable[runnable["account"] == B]
    assert len(wrong) > 0 and (wrong["status"] == "error").all()
    assert wrong["message"].str.contains(f"account {B} has credentials of account {A}").all()


def test_domain_becomes_a_manual_dns_firewall_block() -> None:
    scope = pd.DataFrame([("domain", "pool.example.", A, "us-east-1", None, None, None, None, "resolved by the instance")],
                         columns=list(c.SCOPE_COLUMNS))
    p = c.plan(scope, now=NOW)
    assert rows_of(p) == [("containment", "block domain", "pool.example.", True)]
    row = p.actions.iloc[0]
    assert (row.service, row.method) == ("route53resolver", "update_firewall_domains")
    assert row.kwargs["Domains"] == ["pool.example"] and row.kwargs["Operation"] == "ADD"
    assert "route53resolver update-firewall-domains" in row.cli
