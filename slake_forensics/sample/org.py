"""The fictional organization behind a sample lake: accounts, regions, people, machines.

Everything is drawn from one seeded generator, so a seed fixes every account id,
name, key id, IP and habit, and another seed changes all of them.  Source generators
read the :class:`Org`; they never invent identities of their own.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

ACCOUNT_ROLES = ("management", "security", "log_archive", "production", "development")
REGION_POOL = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
COMPANY_NAMES = ("northwind", "contoso", "fabrikam", "tailspin", "wingtip", "adatum", "litware", "proseware")
FIRST = ("alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
         "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin", "zoe", "omar", "priya",
         "kenji", "lucia", "marek", "noor", "tomas", "ines", "sven", "aisha", "felix", "hana", "ravi", "chen")
LAST = ("smith", "garcia", "nguyen", "kowalski", "okafor", "tanaka", "muller", "rossi", "silva", "khan",
        "novak", "larsen", "dubois", "haddad", "park", "ivanova", "obrien", "costa", "weber", "sato")
# Public ranges of the kind seen in real logs (first two octets); hosts are drawn inside them.
HOME_ISP_NETS = ("73.", "24.", "71.", "86.", "98.", "76.", "82.", "90.", "174.", "68.")
HOSTING_NETS = ("159.89.", "167.99.", "45.77.", "95.216.", "51.15.", "104.248.", "139.59.", "5.188.", "185.220.", "103.75.")
AWS_INTERNAL_DOMAINS = ("cloudformation.amazonaws.com", "autoscaling.amazonaws.com", "lambda.amazonaws.com",
                        "ec2.amazonaws.com", "config.amazonaws.com", "access-analyzer.amazonaws.com")
CONSOLE_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
              "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
              "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0")
CLI_UA = "aws-cli/2.{minor}.{patch} md/awscrt#0.19.19 ua/2.0 os/{os} md/arch#x86_64 lang/python#3.11.{py} md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{cmd}"
SDK_UA = ("Boto3/1.34.{p} md/Botocore#1.34.{p} ua/2.0 os/linux#5.10.{k}-{b}.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.{py} md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.{p}",
          "aws-sdk-go-v2/1.30.{p} os/linux lang/go#1.22.{py} md/GOOS#linux md/GOARCH#amd64 api/s3#1.58.{k}",
          "aws-sdk-java/2.25.{p} Linux/5.10.{k}-{b}.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.{py}+7-LTS Java/17.0.{py} vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy")
TERRAFORM_UA = "APN/1.0 HashiCorp/1.0 Terraform/1.{minor}.{patch} (+https://www.terraform.io) terraform-provider-aws/5.{k}.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.{p} ua/2.0 os/linux lang/go#1.22.{py} md/GOOS#linux md/GOARCH#amd64 api/sts#1.30.{b}"


@dataclass
class Account:
    """One AWS account of the organization."""

    id: str  # 12 digits
    name: str
    role: str  # one of ACCOUNT_ROLES


@dataclass
class Principal:
    """Someone or something that calls AWS APIs, with habits.

    ``kind`` is the CloudTrail ``userIdentity.type``: ``IAMUser``, ``AssumedRole`` (roles and
    SSO permission-set sessions), ``AWSService``, ``Root``.  ``persona`` says what it does:
    ``engineer``, ``admin``, ``sre``, ``security``, ``finance``, ``cicd``, ``app``, ``service``, ``root``.
    """

    name: str
    kind: str
    persona: str
    account: Account
    arn: str
    principal_id: str  # AIDA…/AROA…:session
    access_keys: list[str]  # AKIA… (long-lived) or ASIA… (session) ids this principal uses
    session_issuer: str | None  # role ARN for assumed roles
    tz_offset_h: int  # working-day offset from UTC
    work_hours: tuple[int, int]  # local start, end hour
    weekend_activity: float  # fraction of a weekday's rate on weekends
    daily_calls: float  # mean API calls per working day
    error_rate: float  # fraction of calls that fail with AccessDenied/Throttling
    ips: list[str]
    user_agents: list[str]
    services: list[str]  # preferred service families (keys of apis.SERVICE_APIS)
    regions: list[str]
    uses_mfa: bool = True


@dataclass
class Instance:
    """An EC2 instance with its network identity and role."""

    id: str
    account: Account
    region: str
    vpc_id: str
    subnet_id: str
    eni_id: str
    private_ip: str
    public_ip: str | None
    role_name: str
    role_arn: str
    purpose: str  # web, worker, bastion, batch, eks-node, build
    hostname: str


@dataclass(frozen=True)
class KeyRotation:
    """A story's responder replaced ``old`` with ``new``: from ``since_ms`` (epoch ms) the owner's
    own (background) calls use ``new``, as a CI system does once its secret is updated."""

    old: str
    new: str
    since_ms: int


@dataclass
class Org:
    """The whole fictional organization and the sample period."""

    seed: int
    company: str
    domain: str
    start: pd.Timestamp  # UTC, midnight
    days: int
    regions: list[str]
    accounts: list[Account]
    principals: list[Principal]
    instances: list[Instance]
    buckets: dict[str, list[str]]  # account id -> bucket names
    sensitive_buckets: list[str]
    corporate_cidrs: list[str]  # egress IPs of the offices (as /28 prefix strings "a.b.c.")
    eks_clusters: list[tuple[str, str, str]]  # (account id, region, cluster name)
    lambda_functions: list[tuple[str, str, str]]  # (account id, region, function name)
    web_acls: list[tuple[str, str, str, str]]  # (account id, region, web ACL name, hostname)
    vpc_cidr: dict[str, str] = field(default_factory=dict)  # account id -> "10.x."
    key_rotations: list[KeyRotation] = field(default_factory=list)  # filled by stories, applied to background

    @property
    def end(self) -> pd.Timestamp:
        """Exclusive end of the sample period (UTC)."""
        return self.start + pd.Timedelta(days=self.days)

    def account(self, role: str) -> Account:
        """The first account with ``role`` (management, security, log_archive, production, development)."""
        return next(a for a in self.accounts if a.role == role)

    def principals_by(self, *, persona: str | None = None, kind: str | None = None) -> list[Principal]:
        """Principals filtered by persona and/or kind."""
        return [p for p in self.principals if (persona is None or p.persona == persona) and (kind is None or p.kind == kind)]


def _hex(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("0123456789abcdef"), n))


def _upper_id(rng: np.random.Generator, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(list(string.ascii_uppercase + "234567"), n))


def _public_ip(rng: np.random.Generator, prefix: str) -> str:
    parts = prefix.rstrip(".").split(".")
    while len(parts) < 4:
        parts.append(str(int(rng.integers(1, 255))))
    return ".".join(parts)


def _ua(rng: np.random.Generator, template: str, **extra: str) -> str:
    vals = dict(v=int(rng.integers(118, 131)), minor=int(rng.integers(9, 18)), patch=int(rng.integers(0, 30)),
                p=int(rng.integers(40, 160)), k=int(rng.integers(40, 80)), b=int(rng.integers(100, 230)),
                py=int(rng.integers(2, 10)), os="linux#6.5", cmd="s3.ls")
    vals.update(extra)
    return template.format(**vals)


def build_org(seed: int, days: int, *, n_accounts: int = 5, n_regions: int = 2, n_people: int = 30) -> Org:
    """Draw a whole organization from ``seed``.

    The sample period starts at a seed-dependent Monday between 2025-09 and 2026-06 and
    lasts ``days`` days.  ``n_accounts`` >= 4 (roles beyond the five standard ones are extra
    workload accounts); ``n_regions`` >= 1.
    """
    rng = np.random.default_rng([seed, 1])
    company = str(rng.choice(COMPANY_NAMES))
    domain = f"{company}.example.com"
    base = pd.Timestamp("2025-09-01", tz="UTC")
    start = base + pd.Timedelta(days=int(rng.integers(0, 280)))
    start = start - pd.Timedelta(days=start.weekday())  # a Monday
    home_region = str(rng.choice(REGION_POOL[:2]))
    regions = [home_region] + [str(r) for r in rng.permutation([r for r in REGION_POOL if r != home_region])]
    regions = regions[:n_regions]

    roles = list(ACCOUNT_ROLES)[: max(4, min(n_accounts, 5))]
    if n_accounts < 5:
        roles = ["management", "security", "production", "development"][:n_accounts]
    roles += [f"workload{i}" for i in range(n_accounts - len(roles))]
    accounts, used = [], set()
    for role in roles:
        while (acct_id := str(int(rng.integers(10**11, 10**12)))) in used:
            pass
        used.add(acct_id)
        accounts.append(Account(acct_id, f"{company}-{role.replace('_', '-')}", role))
    vpc_cidr = {a.id: f"10.{int(rng.integers(0, 250))}." for a in accounts}

    corporate = [f"{int(rng.integers(60, 210))}.{int(rng.integers(0, 255))}.{int(rng.integers(0, 255))}." for _ in range(2)]
    corp_ips = [c + str(int(rng.integers(1, 14))) for c in corporate for _ in range(3)]
    prod, dev = next(a for a in accounts if a.role == "production"), next(a for a in accounts if a.role == "development")
    sec = next(a for a in accounts if a.role == "security")
    mgmt = accounts[0]

    principals: list[Principal] = []
    names_used: set[str] = set()
    personas = (["engineer"] * 14 + ["sre"] * 5 + ["admin"] * 3 + ["security"] * 4 + ["finance"] * 2 + ["data"] * 2)
    for i in range(n_people):
        while (uname := f"{rng.choice(FIRST)}.{rng.choice(LAST)}") in names_used:
            pass
        names_used.add(uname)
        persona = personas[i % len(personas)]
        tz = int(rng.choice([-8, -5, -5, 0, 1, 1, 2, 5]))
        home = _public_ip(rng, str(rng.choice(HOME_ISP_NETS)))
        ips = [str(rng.choice(corp_ips)), str(rng.choice(corp_ips)), home]
        uas = [_ua(rng, str(rng.choice(CONSOLE_UA))), _ua(rng, CLI_UA, os=str(rng.choice(["linux#6.5", "macos#23.5", "windows#10"])))]
        services = {"engineer": ["ec2", "s3", "lambda", "logs", "cloudformation", "ecr"],
                    "sre": ["ec2", "cloudwatch", "autoscaling", "elb", "eks", "rds", "route53"],
                    "admin": ["iam", "organizations", "sso", "cloudtrail", "config", "s3"],
                    "security": ["securityhub", "guardduty", "iam", "cloudtrail", "kms", "access-analyzer"],
                    "finance": ["ce", "budgets", "organizations"],
                    "data": ["s3", "athena", "glue", "lakeformation"]}[persona]
        if i % 3 == 0:  # SSO permission-set session
            acct = prod if persona in ("engineer", "sre", "data") else (sec if persona == "security" else mgmt)
            ps = {"engineer": "PowerUserAccess", "sre": "SREAccess", "admin": "AdministratorAccess", "security": "SecurityAudit",
                  "finance": "BillingReadOnly", "data": "DataAnalyst"}[persona]
            role = f"AWSReservedSSO_{ps}_{_hex(rng, 16)}"
            rid = _upper_id(rng, "AROA", 17)
            principals.append(Principal(
                uname, "AssumedRole", persona, acct,
                f"arn:aws:sts::{acct.id}:assumed-role/{role}/{uname}@{domain}", f"{rid}:{uname}@{domain}",
                [_upper_id(rng, "ASIA", 16) for _ in range(6)], f"arn:aws:iam::{acct.id}:role/aws-reserved/sso.amazonaws.com/{role}",
                tz, (int(rng.integers(7, 10)), int(rng.integers(16, 19))), float(rng.uniform(0.0, 0.15)),
                float(rng.uniform(40, 220)), float(rng.uniform(0.01, 0.06)), ips, uas, services, regions, True))
        else:
            acct = dev if persona in ("engineer", "data") and i % 2 else (prod if persona in ("engineer", "sre", "data") else (sec if persona == "security" else mgmt))
            principals.append(Principal(
                uname, "IAMUser", persona, acct, f"arn:aws:iam::{acct.id}:user/{uname}", _upper_id(rng, "AIDA", 17),
                [_upper_id(rng, "AKIA", 16)], None,
                tz, (int(rng.integers(7, 10)), int(rng.integers(16, 19))), float(rng.uniform(0.0, 0.1)),
                float(rng.uniform(30, 160)), float(rng.uniform(0.01, 0.06)), ips, uas, services, regions, bool(rng.random() > 0.15)))

    # machine identities: CI/CD users, workload roles, Terraform, service principals
    for j, (uname, acct) in enumerate([(f"svc-{rng.choice(['jenkins', 'gitlab-ci', 'buildkite'])}-deploy", prod),
                                       (f"svc-{rng.choice(['artifact', 'release', 'backup'])}-sync", prod),
                                       (f"svc-{rng.choice(['terraform', 'atlantis'])}-{rng.choice(['plan', 'apply'])}", mgmt),
                                       (f"svc-{rng.choice(['etl', 'reporting', 'metrics'])}-export", dev)]):
        runner_ip = _public_ip(rng, str(rng.choice(corp_ips))[:-1] + str(int(rng.integers(20, 40))))
        ua = [_ua(rng, TERRAFORM_UA)] if "terraform" in uname or "atlantis" in uname else [_ua(rng, str(rng.choice(SDK_UA))), _ua(rng, CLI_UA, cmd="s3.cp")]
        principals.append(Principal(
            uname, "IAMUser", "cicd", acct, f"arn:aws:iam::{acct.id}:user/{uname}", _upper_id(rng, "AIDA", 17),
            [_upper_id(rng, "AKIA", 16)], None, 0, (0, 24), 0.8, float(rng.uniform(150, 400)), float(rng.uniform(0.005, 0.02)),
            [runner_ip, _public_ip(rng, str(rng.choice(corp_ips))[:-1] + str(int(rng.integers(20, 40))))], ua,
            ["s3", "ecr", "lambda", "cloudformation", "ecs"], regions, False))

    instances: list[Instance] = []
    for acct in (prod, dev):
        for k in range(6 if acct is prod else 3):
            region = regions[k % len(regions)]
            purpose = ["web", "web", "worker", "batch", "eks-node", "bastion"][k % 6] if acct is prod else ["build", "worker", "web"][k]
            role_name = f"{company}-{purpose}-{'prod' if acct is prod else 'dev'}-role"
            net = vpc_cidr[acct.id]
            priv = f"{net}{int(rng.integers(0, 16))}.{int(rng.integers(4, 250))}"
            instances.append(Instance(
                f"i-{_hex(rng, 17)}", acct, region, f"vpc-{_hex(rng, 17)}", f"subnet-{_hex(rng, 17)}", f"eni-{_hex(rng, 17)}",
                priv, f"{int(rng.integers(3, 54))}.{int(rng.integers(0, 255))}.{int(rng.integers(0, 255))}.{int(rng.integers(1, 255))}"
                if purpose in ("web", "bastion") else None,
                role_name, f"arn:aws:iam::{acct.id}:role/{role_name}", purpose, f"ip-{priv.replace('.', '-')}.ec2.internal"))
    for inst in instances:  # each instance profile acts as an assumed role in CloudTrail
        sess = inst.id
        principals.append(Principal(
            f"{inst.role_name}/{sess}", "AssumedRole", "app", inst.account,
            f"arn:aws:sts::{inst.account.id}:assumed-role/{inst.role_name}/{sess}", f"{_upper_id(rng, 'AROA', 17)}:{sess}",
            [_upper_id(rng, "ASIA", 16) for _ in range(8)], inst.role_arn, 0, (0, 24), 0.95, float(rng.uniform(80, 300)),
            float(rng.uniform(0.002, 0.01)), [inst.private_ip], [_ua(rng, str(rng.choice(SDK_UA)))],
            ["s3", "sqs", "dynamodb", "ssm", "secretsmanager", "kms"], [inst.region], False))
    for svc in AWS_INTERNAL_DOMAINS:
        for acct in accounts:
            principals.append(Principal(
                svc, "AWSService", "service", acct, "", "", [], None, 0, (0, 24), 1.0, float(rng.uniform(20, 90)), 0.0,
                [svc], [svc], [svc.split(".")[0]], regions, False))
    principals.append(Principal("root", "Root", "root", mgmt, f"arn:aws:iam::{mgmt.id}:root", mgmt.id, [], None, 0, (9, 17),
                                0.0, 0.0, 0.0, [str(rng.choice(corp_ips))], [_ua(rng, CONSOLE_UA[0])], ["iam"], regions[:1], True))

    buckets: dict[str, list[str]] = {}
    sens: list[str] = []
    for acct in accounts:
        tag = _hex(rng, 6)
        names = [f"{company}-{acct.role.replace('_', '-')}-{kind}-{tag}" for kind in ("artifacts", "logs", "backups", "data", "static-site")]
        buckets[acct.id] = names
    sens.append(f"{company}-customer-{rng.choice(['exports', 'records', 'pii', 'billing'])}-{_hex(rng, 6)}")
    sens.append(f"{company}-{rng.choice(['finance', 'hr', 'payroll'])}-reports-{_hex(rng, 6)}")
    buckets[prod.id] += sens

    eks = [(prod.id, regions[0], f"{company}-prod-{rng.choice(['apps', 'platform', 'core'])}")]
    lambdas = [(acct.id, regions[k % len(regions)], f"{company}-{fn}") for k, (acct, fn) in enumerate(
        [(prod, "order-processor"), (prod, "thumbnail-resizer"), (prod, "audit-forwarder"), (dev, "nightly-report"), (sec, "guardduty-notifier"), (mgmt, "account-vending")])]
    acls = [(prod.id, regions[0], f"{company}-public-web", f"www.{domain}"), (prod.id, regions[-1], f"{company}-api", f"api.{domain}")]
    return Org(seed, company, domain, start, days, regions, accounts, principals, instances, buckets, sens, corporate,
               eks, lambdas, acls, vpc_cidr)
