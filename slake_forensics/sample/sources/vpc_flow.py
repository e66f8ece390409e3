"""VPC Flow Logs (version 5) background: the org's instances talking, as ``vpc_flow_2_0`` rows.

Connections (each an ACCEPT request record plus its reply record on the same ENI):
egress to package mirrors, SaaS and AWS service endpoints, DNS to the VPC resolver
(``x.x.0.2:53``), NTP, east-west to databases/caches and between instances (logged on both
ENIs), web traffic from the internet to web instances on 443, SSH from the offices to the
bastion; plus single REJECT records of internet scanners probing public instances.

Vocabulary (reference §1.3): ACCEPT → Traffic (6) / Allowed (1) / ``Allowed`` / 400106; REJECT →
Refuse (5) / Denied (2) / ``Blocked`` / 400105; ingress/egress → Inbound (1)/Outbound (2);
``traffic_path`` → ``boundary_id`` (ingress, no ``traffic_path``: 99 ``-``); ENI/VPC/instance/subnet ids on
``dst_endpoint`` for ingress and on ``src_endpoint`` for egress; ``svc_name`` the AWS service of the peer
(``S3``, ``DYNAMODB``, ``AMAZON``) or ``-``; web requests through the load balancer keep its address in
``intermediate_ips``; NODATA/SKIPDATA records (addresses ``-``, activity Unknown 0); ``metadata.profiles``
``cloud, security_control, datetime``; ``unmapped`` sublocation id/type ``-``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import (class_columns, diurnal_times, ip_strings, observables, partition_columns, pick, pick_or_null,
                      repeat, same_list, string_map)
from slake_forensics.sample.org import HOME_ISP_NETS, HOSTING_NETS, Instance, Org
from slake_forensics.sample.writer import build_table

SOURCE = SOURCES["vpc_flow"]
#: ``boundary_id`` → ``boundary`` (``traffic_path`` + 3; a record without ``traffic_path``, ``-``, gives 99 and ``-``).
BOUNDARIES = {4: "Same VPC", 5: "Internet/VPC Gateway", 10: "Gateway VPC", 11: "Internet Gateway", 99: "-"}

#: External services instances talk to: (hostname, port, protocol, first two octets, weight, CNAME target or "").
#: ``{region}`` in a hostname is replaced by the instance's region; addresses are fixed per (host, region).
SERVICES: tuple[tuple[str, int, int, str, float, str], ...] = (
    ("deb.debian.org", 443, 6, "151.101.", 3.0, "debian.map.fastlydns.net"),
    ("security.debian.org", 80, 6, "151.101.", 1.0, "debian.map.fastlydns.net"),
    ("archive.ubuntu.com", 80, 6, "185.125.", 1.5, ""),
    ("pypi.org", 443, 6, "151.101.", 2.0, ""),
    ("files.pythonhosted.org", 443, 6, "151.101.", 2.0, "dualstack.python.map.fastly.net"),
    ("registry.npmjs.org", 443, 6, "104.16.", 1.2, ""),
    ("github.com", 443, 6, "140.82.", 1.5, ""),
    ("codeload.github.com", 443, 6, "140.82.", 0.5, ""),
    ("registry-1.docker.io", 443, 6, "54.227.", 1.0, ""),
    ("al2023-repos-{region}-de612dc2.s3.dualstack.{region}.amazonaws.com", 443, 6, "52.216.", 1.5, ""),
    ("sts.{region}.amazonaws.com", 443, 6, "52.94.", 4.0, ""),
    ("s3.amazonaws.com", 443, 6, "52.217.", 1.0, ""),
    ("ssm.{region}.amazonaws.com", 443, 6, "52.46.", 3.0, ""),
    ("ec2messages.{region}.amazonaws.com", 443, 6, "52.46.", 3.0, ""),
    ("ssmmessages.{region}.amazonaws.com", 443, 6, "52.46.", 1.5, ""),
    ("logs.{region}.amazonaws.com", 443, 6, "52.119.", 3.0, ""),
    ("monitoring.{region}.amazonaws.com", 443, 6, "52.119.", 2.0, ""),
    ("sqs.{region}.amazonaws.com", 443, 6, "52.46.", 2.0, ""),
    ("secretsmanager.{region}.amazonaws.com", 443, 6, "52.94.", 1.0, ""),
    ("kms.{region}.amazonaws.com", 443, 6, "52.94.", 1.0, ""),
    ("api.ecr.{region}.amazonaws.com", 443, 6, "54.239.", 1.0, ""),
    ("dynamodb.{region}.amazonaws.com", 443, 6, "3.218.", 1.5, ""),
    ("s3.{region}.amazonaws.com", 443, 6, "52.217.", 4.0, ""),
    ("api.datadoghq.com", 443, 6, "3.233.", 1.0, ""),
    ("hooks.slack.com", 443, 6, "34.192.", 0.4, ""),
    ("api.stripe.com", 443, 6, "54.187.", 0.5, ""),
    ("sentry.io", 443, 6, "35.186.", 0.5, ""),
    ("ntp.ubuntu.com", 123, 17, "185.125.", 0.0, ""),
    ("time.cloudflare.com", 123, 17, "162.159.", 0.0, ""),
)
IPS_PER_HOST = 4
#: Gateway-endpoint services (S3, DynamoDB) leave the VPC through the gateway endpoint.
GATEWAY_PREFIXES = ("s3.", "dynamodb.", "al2023-repos-")
#: ``pkt-dst-aws-service`` of the AWS endpoints among :data:`SERVICES` (by hostname prefix; other AWS hosts: AMAZON).
AWS_SERVICE_PREFIXES = (("s3.", "S3"), ("al2023-repos-", "S3"), ("dynamodb.", "DYNAMODB"))
#: Share of internet clients reaching the web instances through the load balancer (``srcaddr`` is then the
#: balancer's address, ``pkt-srcaddr`` the client's).
VIA_BALANCER = 0.7
PURPOSE_WEIGHT = {"web": 1.0, "worker": 1.5, "batch": 1.2, "eks-node": 2.0, "bastion": 0.3, "build": 2.0}
SCAN_PORTS = np.array([22, 3389, 23, 445, 1433, 3306, 5900, 8080, 8443, 6379, 9200, 2375, 5432, 21, 25, 111, 135, 139, 5060, 161])
SCAN_PORT_W = np.array([30, 18, 14, 10, 5, 5, 4, 4, 3, 3, 2, 2, 2, 2, 1.5, 1, 1, 1, 1, 1.5])
SCAN_UDP = {5060, 161, 111}
#: per-day volume at scale 1 for the default org (connections; rows are about twice that)
PER_DAY = {"egress": 2600, "dns": 900, "ntp": 300, "db": 1200, "east_west": 300, "web": 1200, "ssh": 40, "scan": 1300}
#: NODATA/SKIPDATA records (no traffic in, or records skipped during, the aggregation interval) per day at scale 1.
IDLE_PER_DAY = 60


def host_ip(host: str, region: str, prefix: str, k: int) -> str:
    """The ``k``-th fixed public address of ``host`` in ``region`` (stable across seeds, like the real internet)."""
    h = hashlib.sha256(f"{host}|{region}|{k}".encode()).digest()
    return f"{prefix}{h[0] % 256}.{1 + h[1] % 253}"


def aws_service(host: str) -> str:
    """``pkt-src/dst-aws-service`` of a :data:`SERVICES` hostname: ``S3``, ``DYNAMODB``, ``AMAZON`` or ``-`` (not AWS)."""
    if not host.endswith(".amazonaws.com"):
        return "-"
    return next((svc for prefix, svc in AWS_SERVICE_PREFIXES if host.startswith(prefix)), "AMAZON")


def service_hosts(region: str) -> list[str]:
    """The hostnames of :data:`SERVICES` as seen from ``region``."""
    return [s[0].format(region=region) for s in SERVICES]


def zone_of(inst: Instance) -> str:
    """The availability zone of an instance (from its subnet)."""
    return inst.region + "abc"[int(inst.subnet_id[-4:], 16) % 3]


def resolver_ip(org: Org, inst: Instance) -> str:
    """The VPC ``.2`` resolver address of an instance's VPC."""
    return f"{org.vpc_cidr[inst.account.id]}0.2"


@dataclass
class Flows:
    """Flow records as parallel arrays: indices into an IP pool and an instance list."""

    t: np.ndarray
    owner: np.ndarray  # instance index whose ENI logged the record
    src: np.ndarray  # IP pool index
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    proto: np.ndarray
    direction: np.ndarray  # 1 ingress, 2 egress
    accept: np.ndarray  # bool
    bytes: np.ndarray
    packets: np.ndarray
    flags: np.ndarray
    boundary: np.ndarray
    duration: np.ndarray  # ms inside the aggregation window

    @staticmethod
    def concat(parts: list[Flows]) -> Flows:
        """All parts as one :class:`Flows`."""
        return Flows(*(np.concatenate([getattr(p, f) for p in parts]) for f in Flows.__dataclass_fields__))


class IpPool:
    """A growing list of IP strings; sections are appended and addressed by offset.

    Each address may name the AWS service it belongs to (``pkt-*-aws-service``; ``-`` when none).
    """

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.svc: list[np.ndarray] = []
        self.size = 0

    def add(self, ips: np.ndarray | list[str], services: list[str] | None = None) -> int:
        """Append ``ips`` (with their AWS ``services``, default ``-``); return the index of the first one."""
        start = self.size
        arr = np.asarray(ips, dtype=object)
        self.parts.append(arr)
        self.svc.append(np.asarray(services if services is not None else ["-"] * len(arr), dtype=object))
        self.size += len(arr)
        return start

    def values(self) -> list[str]:
        """The whole pool as a list."""
        return list(np.concatenate(self.parts)) if self.parts else []

    def services(self) -> list[str]:
        """The AWS service of each address of :meth:`values` (``-`` for none)."""
        return list(np.concatenate(self.svc)) if self.svc else []


def random_public_ips(rng: np.random.Generator, n: int, nets: tuple[str, ...] = ()) -> np.ndarray:
    """``n`` public IPv4 strings inside the given ``"a.b."`` prefixes (anywhere public when ``nets`` is empty)."""
    if nets:
        k = rng.integers(0, len(nets), n)
        pref = np.array(nets)[k]
        missing = np.array([4 - len(x.rstrip(".").split(".")) for x in nets])[k]
        last2 = np.char.add(np.char.add(rng.integers(0, 256, n).astype(str), "."), rng.integers(1, 255, n).astype(str))
        last3 = np.char.add(np.char.add(rng.integers(1, 255, n).astype(str), "."), last2)
        return np.char.add(pref, np.where(missing == 3, last3, last2)).astype(object)
    first = rng.choice(np.array([x for x in range(11, 224) if x not in (100, 127, 169, 172, 192)]), n)
    return ip_strings(first, rng.integers(0, 256, n), rng.integers(0, 256, n), rng.integers(1, 255, n))


def _ephemeral(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(32768, 61000, n)


def _sizes(rng: np.random.Generator, n: int, median: float, sigma: float, cap: float = 2e9) -> np.ndarray:
    """Heavy-tailed (log-normal) byte counts."""
    return np.clip(rng.lognormal(np.log(median), sigma, n), 40, cap).astype("int64")


def connections(rng: np.random.Generator, t: np.ndarray, owner: np.ndarray, src: np.ndarray, dst: np.ndarray,
                sport: np.ndarray, dport: np.ndarray, proto: np.ndarray | int, direction: int, boundary: np.ndarray | int,
                req_bytes: np.ndarray, resp_bytes: np.ndarray, max_ms: int = 60_000) -> Flows:
    """ACCEPTed connections seen on ``owner``'s ENI: the request record and its reply record.

    ``direction`` is that of the request (1 ingress, 2 egress); ``boundary`` applies to the
    egress record of the pair (ingress records carry 99 Other, as ``traffic_path`` is ``-``).
    Returns a :class:`Flows` of ``2 * len(t)`` records.
    """
    n = len(t)
    proto = np.broadcast_to(np.asarray(proto, dtype="int64"), (n,))
    boundary = np.broadcast_to(np.asarray(boundary, dtype="int64"), (n,))
    tcp = proto == 6
    dur = rng.integers(200, max_ms, n)
    req_flags = np.where(tcp, rng.choice(np.array([3, 3, 3, 2, 1, 19]), n), 0)
    resp_flags = np.where(tcp, rng.choice(np.array([19, 19, 19, 18, 17]), n), 0)
    req_pk = np.maximum(1, req_bytes // rng.integers(60, 700, n))
    resp_pk = np.maximum(1, resp_bytes // rng.integers(500, 1400, n))
    other = 3 - direction
    return Flows(
        t=np.concatenate([t, t + rng.integers(0, 40, n)]), owner=np.concatenate([owner, owner]),
        src=np.concatenate([src, dst]), dst=np.concatenate([dst, src]), sport=np.concatenate([sport, dport]),
        dport=np.concatenate([dport, sport]), proto=np.concatenate([proto, proto]),
        direction=np.concatenate([np.full(n, direction), np.full(n, other)]), accept=np.ones(2 * n, dtype=bool),
        bytes=np.concatenate([req_bytes, resp_bytes]), packets=np.concatenate([req_pk, resp_pk]),
        flags=np.concatenate([req_flags, resp_flags]),
        boundary=np.concatenate([np.where(direction == 2, boundary, 99), np.where(other == 2, boundary, 99)]),
        duration=np.concatenate([dur, dur]))


def background(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """A ``vpc_flow_2_0`` table of the org's routine network traffic over the whole period (about 15k rows a day at scale 1)."""
    insts = org.instances
    n_inst = len(insts)
    days = org.days * scale
    pool = IpPool()
    priv0 = pool.add([i.private_ip for i in insts])
    res0 = pool.add([resolver_ip(org, i) for i in insts])
    reg_of = {r: k for k, r in enumerate(dict.fromkeys(i.region for i in insts))}
    svc0 = {r: pool.add([host_ip(h, r, s[3], k) for s, h in zip(SERVICES, service_hosts(r)) for k in range(IPS_PER_HOST)],
                        [aws_service(h) for h in service_hosts(r) for _ in range(IPS_PER_HOST)]) for r in reg_of}
    inst_svc0 = np.array([svc0[i.region] for i in insts])
    nets = [org.vpc_cidr[i.account.id] for i in insts]
    db0 = pool.add([f"{nets[j]}{int(rng.integers(16, 64))}.{int(rng.integers(4, 250))}" for j in range(n_inst) for _ in range(3)])
    clients0 = pool.add(np.concatenate([random_public_ips(rng, 12_000, HOME_ISP_NETS), random_public_ips(rng, 8_000)]))
    scanners0 = pool.add(np.concatenate([random_public_ips(rng, 1_500, HOSTING_NETS), random_public_ips(rng, 1_500)]))
    corp = [c + str(int(rng.integers(1, 14))) for c in org.corporate_cidrs for _ in range(3)]
    corp0 = pool.add(corp)
    balancer0 = pool.add([f"{nets[j]}{int(rng.integers(64, 96))}.{int(rng.integers(4, 250))}" for j in range(n_inst)])

    purpose = np.array([i.purpose for i in insts])
    public = np.array([i.public_ip is not None for i in insts])
    w = np.array([PURPOSE_WEIGHT.get(p, 1.0) for p in purpose])
    w = w / w.sum()

    def count(kind: str) -> int:
        return int(rng.poisson(PER_DAY[kind] * days * n_inst / 9))

    parts: list[Flows] = []
    # egress to mirrors, SaaS and AWS endpoints
    n = count("egress")
    t = diurnal_times(org, rng, n, flatness=0.6)
    owner = rng.choice(n_inst, n, p=w)
    sw = np.array([s[4] for s in SERVICES])
    s = rng.choice(len(SERVICES), n, p=sw / sw.sum())
    dst = inst_svc0[owner] + s * IPS_PER_HOST + rng.integers(0, IPS_PER_HOST, n)
    gateway = np.array([SERVICES[k][0].startswith(GATEWAY_PREFIXES) for k in range(len(SERVICES))])[s]
    boundary = np.where(gateway, 10, np.where(public[owner], 11, 4))
    dport = np.array([x[1] for x in SERVICES])[s]
    parts.append(connections(rng, t, owner, priv0 + owner, dst, _ephemeral(rng, n), dport, 6, 2, boundary,
                             _sizes(rng, n, 900, 0.8, 2e6), _sizes(rng, n, 12_000, 2.0)))
    # DNS to the VPC resolver
    n = count("dns")
    owner = rng.choice(n_inst, n, p=w)
    parts.append(connections(rng, diurnal_times(org, rng, n, flatness=0.7), owner, priv0 + owner, res0 + owner,
                             _ephemeral(rng, n), np.full(n, 53), 17, 2, 4, rng.integers(60, 130, n), rng.integers(90, 480, n)))
    # NTP
    n = count("ntp")
    owner = rng.integers(0, n_inst, n)
    ntp = np.array([k for k, x in enumerate(SERVICES) if x[1] == 123])[rng.integers(0, 2, n)]
    parts.append(connections(rng, diurnal_times(org, rng, n, flatness=1.0), owner, priv0 + owner,
                             inst_svc0[owner] + ntp * IPS_PER_HOST + rng.integers(0, IPS_PER_HOST, n),
                             np.full(n, 123), np.full(n, 123), 17, 2, np.where(public[owner], 11, 4),
                             np.full(n, 76), np.full(n, 76)))
    # databases and caches in the VPC
    apps = np.flatnonzero(np.isin(purpose, ["web", "worker", "batch", "eks-node"]))
    n = count("db")
    owner = apps[rng.integers(0, len(apps), n)]
    kind = rng.choice(3, n, p=[0.55, 0.15, 0.30])
    parts.append(connections(rng, diurnal_times(org, rng, n, flatness=0.4), owner, priv0 + owner, db0 + owner * 3 + kind,
                             _ephemeral(rng, n), np.array([5432, 3306, 6379])[kind], 6, 2, 4,
                             _sizes(rng, n, 600, 1.0, 5e6), _sizes(rng, n, 4_000, 1.8, 5e8)))
    # instance to instance in the same VPC, logged on both ENIs
    pairs = [(a, b, 10250 if insts[a].purpose == "eks-node" else 8080) for a in range(n_inst) for b in range(n_inst)
             if a != b and insts[a].vpc_id == insts[b].vpc_id and insts[b].purpose in ("worker", "eks-node", "batch")
             and insts[a].purpose in ("web", "eks-node", "worker")]
    if not pairs:  # instances of one account share a VPC per region; fall back to same account and region
        pairs = [(a, b, 8080) for a in range(n_inst) for b in range(n_inst)
                 if a != b and insts[a].account is insts[b].account and insts[a].region == insts[b].region
                 and insts[b].purpose != "bastion"]
    if pairs:
        pa_ = np.array(pairs)
        n = count("east_west")
        k = rng.integers(0, len(pa_), n)
        a, b, port = pa_[k, 0], pa_[k, 1], pa_[k, 2]
        t = diurnal_times(org, rng, n, flatness=0.5)
        sport, req, resp = _ephemeral(rng, n), _sizes(rng, n, 1_500, 1.0, 1e7), _sizes(rng, n, 8_000, 1.5, 1e8)
        parts.append(connections(rng, t, a, priv0 + a, priv0 + b, sport, port, 6, 2, 4, req, resp))
        parts.append(connections(rng, t + rng.integers(0, 5, n), b, priv0 + a, priv0 + b, sport, port, 6, 1, 4, req, resp))
    # internet clients to the web instances on 443
    web = np.flatnonzero((purpose == "web") & public)
    via: list[np.ndarray] = [np.full(len(p.t), -1) for p in parts]
    if len(web):
        n = count("web")
        owner = web[rng.integers(0, len(web), n)]
        client = clients0 + np.minimum((rng.pareto(1.2, n) * 300).astype("int64"), 19_999)
        parts.append(connections(rng, diurnal_times(org, rng, n, peak_hour_utc=16, flatness=0.3), owner, client, priv0 + owner,
                                 rng.integers(1024, 65536, n), np.full(n, 443), 6, 1, 11,
                                 _sizes(rng, n, 1_400, 1.0, 5e6), _sizes(rng, n, 30_000, 1.6, 2e8)))
        balanced = np.where(rng.random(n) < VIA_BALANCER, balancer0 + owner, -1)
        via.append(np.concatenate([balanced, balanced]))  # the request's srcaddr, the reply's dstaddr
    # SSH from the offices to the bastion
    bastion = np.flatnonzero(purpose == "bastion")
    if len(bastion):
        n = count("ssh")
        owner = bastion[rng.integers(0, len(bastion), n)]
        parts.append(connections(rng, diurnal_times(org, rng, n, peak_hour_utc=14, flatness=0.1), owner,
                                 corp0 + rng.integers(0, len(corp), n), priv0 + owner, _ephemeral(rng, n), np.full(n, 22), 6, 1, 11,
                                 _sizes(rng, n, 20_000, 1.5, 5e7), _sizes(rng, n, 150_000, 1.5, 5e8)))
    # internet scanners probing public instances: REJECT
    exposed = np.flatnonzero(public)
    if len(exposed):
        n = count("scan")
        owner = exposed[rng.integers(0, len(exposed), n)]
        dport = rng.choice(SCAN_PORTS, n, p=SCAN_PORT_W / SCAN_PORT_W.sum())
        proto = np.where(np.isin(dport, list(SCAN_UDP)), 17, 6)
        pk = rng.choice(np.array([1, 1, 1, 2, 3]), n)
        parts.append(Flows(
            t=diurnal_times(org, rng, n, flatness=0.95), owner=owner,
            src=scanners0 + np.minimum((rng.pareto(0.9, n) * 40).astype("int64"), 2_999), dst=priv0 + owner,
            sport=rng.integers(1024, 65536, n), dport=dport, proto=proto, direction=np.ones(n, dtype="int64"),
            accept=np.zeros(n, dtype=bool), bytes=pk * np.where(proto == 6, rng.choice(np.array([40, 44, 60]), n), 78),
            packets=pk, flags=np.where(proto == 6, 2, 0), boundary=np.full(n, 99), duration=rng.integers(0, 50_000, n)))
    via += [np.full(len(p.t), -1) for p in parts[len(via):]]
    flows = flows_table(org, Flows.concat(parts), pool.values(), services=pool.services(), via=np.concatenate(via))
    return pa.concat_tables([flows, idle_records(org, rng, int(rng.poisson(IDLE_PER_DAY * days * n_inst / 9)))])


def idle_records(org: Org, rng: np.random.Generator, n: int) -> pa.Table:
    """``n`` NODATA/SKIPDATA records of the instances' ENIs, as Security Lake maps them.

    Such a record carries only the interface, its ids and the interval: addresses ``-``, no ports,
    protocol, counts or action; activity Unknown (0), direction Unknown (0), boundary ``-`` (99).
    """
    insts = org.instances
    o = rng.integers(0, len(insts), n)
    t = diurnal_times(org, rng, n, flatness=1.0)
    status = pick(["NODATA", "SKIPDATA"], (rng.random(n) < 0.1).astype("int64"))
    cols = class_columns(4001, np.zeros(n, dtype="int64"), 1)
    accounts, regions = [i.account.id for i in insts], [i.region for i in insts]
    cols.update(_fixed_columns(n))
    cols.update({
        "cloud.account.uid": pick(accounts, o), "cloud.region": pick(regions, o), "cloud.zone": pick([zone_of(i) for i in insts], o),
        "src_endpoint.ip": repeat("-", n), "dst_endpoint.ip": repeat("-", n),
        "src_endpoint.svc_name": repeat("-", n), "dst_endpoint.svc_name": repeat("-", n),
        "src_endpoint.interface_uid": pick([i.eni_id for i in insts], o), "src_endpoint.vpc_uid": pick([i.vpc_id for i in insts], o),
        "src_endpoint.instance_uid": pick([i.id for i in insts], o), "src_endpoint.subnet_uid": pick([i.subnet_id for i in insts], o),
        "connection_info.boundary_id": np.full(n, 99, dtype="int32"), "connection_info.boundary": repeat(BOUNDARIES[99], n),
        "connection_info.direction_id": np.zeros(n, dtype="int32"), "connection_info.direction": repeat("Unknown", n),
        "time": t, "time_dt": t, "start_time_dt": t, "end_time_dt": t + rng.integers(55_000, 65_000, n), "status_code": status,
    })
    cols.update(partition_columns(pick(accounts, o), pick(regions, o)))
    return build_table(SOURCE, cols, n)


def _fixed_columns(n: int) -> dict:
    """Columns every flow record carries alike: product, profiles, provider and ``unmapped`` (sublocation ``-``)."""
    return {
        "metadata.product.name": repeat("Amazon VPC", n), "metadata.product.vendor_name": repeat("AWS", n),
        "metadata.product.feature.name": repeat("Flowlogs", n), "metadata.product.version": repeat("5", n),
        "metadata.profiles": same_list(["cloud", "security_control", "datetime"], n), "cloud.provider": repeat("AWS", n),
        "unmapped": string_map(n, [("sublocation_id", "-"), ("sublocation_type", "-")]),
    }


def flows_table(org: Org, f: Flows, ips: list[str], *, services: list[str] | None = None, via: np.ndarray | None = None) -> pa.Table:
    """The ``vpc_flow_2_0`` table of flow records ``f`` (owners index ``org.instances``, IPs index ``ips``).

    ``services``: the AWS service of each address of ``ips`` (``svc_name``; default ``-`` for all);
    ``via``: per record the index into ``ips`` of the load balancer the traffic passed (-1: none): the
    ingress record's ``srcaddr`` / the egress record's ``dstaddr``, kept in ``intermediate_ips``.
    """
    insts = org.instances
    n = len(f.t)
    o = f.owner
    egress, ingress = f.direction == 2, f.direction == 1
    activity = np.where(f.accept, 6, 5)
    cols = class_columns(4001, activity, 1)
    ids = {"interface_uid": [i.eni_id for i in insts], "vpc_uid": [i.vpc_id for i in insts],
           "instance_uid": [i.id for i in insts], "subnet_uid": [i.subnet_id for i in insts]}
    for side, mask in (("src_endpoint", egress), ("dst_endpoint", ingress)):
        for k, pool in ids.items():
            cols[f"{side}.{k}"] = pick_or_null(pool, o, mask)
    accounts = [i.account.id for i in insts]
    regions = [i.region for i in insts]
    b_keys = sorted(BOUNDARIES)
    obs_idx = np.empty(2 * n, dtype="int64")
    obs_idx[0::2], obs_idx[1::2] = f.src, f.dst
    t = f.t.astype("int64")
    svc = services if services is not None else ["-"] * len(ips)
    cols.update(_fixed_columns(n))
    if via is not None and (via >= 0).any():
        for side, mask in (("src_endpoint", ingress), ("dst_endpoint", egress)):
            has = (via >= 0) & mask
            offsets = np.concatenate([[0], np.cumsum(has)]).astype("int32")
            cols[f"{side}.intermediate_ips"] = pa.ListArray.from_arrays(pa.array(offsets), pick(ips, via[has]), mask=pa.array(~has))
    cols.update({
        "cloud.account.uid": pick(accounts, o), "cloud.region": pick(regions, o), "cloud.zone": pick([zone_of(i) for i in insts], o),
        "src_endpoint.ip": pick(ips, f.src), "src_endpoint.port": f.sport.astype("int32"),
        "dst_endpoint.ip": pick(ips, f.dst), "dst_endpoint.port": f.dport.astype("int32"),
        "src_endpoint.svc_name": pick(svc, f.src), "dst_endpoint.svc_name": pick(svc, f.dst),
        "connection_info.protocol_num": f.proto.astype("int32"), "connection_info.tcp_flags": f.flags.astype("int32"),
        "connection_info.protocol_ver": repeat("IPv4", n),
        "connection_info.boundary_id": f.boundary.astype("int32"),
        "connection_info.boundary": pick([BOUNDARIES[k] for k in b_keys], np.searchsorted(b_keys, f.boundary)),
        "connection_info.direction_id": f.direction.astype("int32"),
        "connection_info.direction": pick(["Inbound", "Outbound"], f.direction - 1),
        "traffic.bytes": f.bytes.astype("int64"), "traffic.packets": f.packets.astype("int64"),
        "time": t, "time_dt": t, "start_time_dt": t, "end_time_dt": t + f.duration,
        "status_code": repeat("OK", n),
        "action": pick(["Allowed", "Denied"], (~f.accept).astype("int64")), "action_id": np.where(f.accept, 1, 2).astype("int32"),
        "disposition": pick(["Allowed", "Blocked"], (~f.accept).astype("int64")),
        "observables": observables(np.arange(0, 2 * n + 1, 2), pick(["src_endpoint.ip", "dst_endpoint.ip"], np.tile([0, 1], n)),
                                   pick(ips, obs_idx), np.full(2 * n, 2), SOURCE.schema.field("observables").type),
    })
    cols.update(partition_columns(pick(accounts, o), pick(regions, o)))
    return build_table(SOURCE, cols, n)
