"""Route 53 Resolver query logs background: the org's instances resolving names, as ``route53_2_0`` rows.

Instances resolve the same services they connect to in :mod:`.vpc_flow` (package mirrors, AWS
endpoints, SaaS; same addresses), internal names (``ec2.internal``, RDS endpoints, the org's
private zone), and now and then names that do not exist (``NXDomain``) or fail (``ServError``).
Vocabulary (reference §1.3): activity Traffic (6), type_uid 400306; ``query.hostname`` keeps the
trailing dot; ``rcode``/``rcode_id`` by the OCSF 1.1.0 captions (NoError 0, ServError 2, NXDomain 3);
``connection_info.protocol_name`` UDP, ``connection_info.direction`` Unknown (0); ``dst_endpoint`` the
resolver endpoint (``rslvr-in-…``/``rni-…``); ``metadata.profiles`` ``cloud, security_control, datetime``.
A query that matches a Resolver DNS Firewall rule fills ``firewall_rule.uid`` (the rule group),
``action``/``action_id`` and ``disposition`` (:func:`firewall_columns`).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES
from slake_forensics.sample.common import class_columns, diurnal_times, observables, partition_columns, pick, repeat, same_list
from slake_forensics.sample.org import Instance, Org
from slake_forensics.sample.writer import build_table, list_of_structs
from slake_forensics.sample.sources.vpc_flow import IPS_PER_HOST, PURPOSE_WEIGHT, SERVICES, host_ip

SOURCE = SOURCES["route53"]
ROWS_PER_DAY = 7_100
RCODES = {0: "NoError", 2: "ServError", 3: "NXDomain"}
#: names nobody owns that instances still ask for (search-domain leaks, probes, typos)
NX_NAMES = ("metadata.google.internal.", "wpad.ec2.internal.", "api.datadoghq.com.ec2.internal.", "pypi.org.ec2.internal.",
            "_http._tcp.deb.debian.org.ec2.internal.", "localhost.localdomain.", "isatap.ec2.internal.", "registry.npmjs.orgg.")


#: DNS Firewall rule action → (action_id, action, disposition), as Security Lake maps them.
FIREWALL_ACTIONS = {"ALERT": (1, "Allowed", "Alert"), "BLOCK": (2, "Denied", "Blocked"), "ALLOW": (1, "Allowed", "Allowed")}


def fixed_columns(n: int) -> dict:
    """Columns every Resolver query log row carries alike: product, profiles, provider, protocol and direction."""
    return {
        "metadata.product.name": repeat("Route 53", n), "metadata.product.vendor_name": repeat("AWS", n),
        "metadata.product.feature.name": repeat("Resolver Query Logs", n), "metadata.product.version": repeat("1.100000", n),
        "metadata.profiles": same_list(["cloud", "security_control", "datetime"], n), "cloud.provider": repeat("AWS", n),
        "connection_info.protocol_name": repeat("UDP", n),
        "connection_info.direction": repeat("Unknown", n), "connection_info.direction_id": np.zeros(n, dtype="int32"),
    }


def firewall_rule_group(account_id: str) -> str:
    """The (stable, made-up) id ``rslvr-frg-…`` of the DNS Firewall rule group associated with ``account_id``'s VPCs."""
    return f"rslvr-frg-{hashlib.sha256(f'frg|{account_id}'.encode()).hexdigest()[:16]}"


def firewall_columns(rule_group: list[str | None], action: list[str | None]) -> dict:
    """``firewall_rule.uid``, ``action_id``, ``action``, ``disposition`` of rows matching a DNS Firewall rule.

    ``rule_group``/``action`` per row: the matching rule group id and its ``ALERT``/``BLOCK``/``ALLOW``
    action (``None``: the query matched no rule, and the columns stay null).
    """
    mapped = [FIREWALL_ACTIONS.get(a) if a else None for a in action]
    return {"firewall_rule.uid": rule_group, "action_id": pa.array([m[0] if m else None for m in mapped], pa.int32()),
            "action": [m[1] if m else None for m in mapped], "disposition": [m[2] if m else None for m in mapped]}


def resolver_endpoint(vpc_id: str) -> tuple[str, str]:
    """The (inbound resolver endpoint id ``rslvr-in-…``, its interface ``rni-…``) serving a VPC."""
    h = hashlib.sha256(vpc_id.encode()).hexdigest()
    return f"rslvr-in-{h[:17]}", f"rni-{h[17:34]}"


def _names(org: Org, inst: Instance) -> tuple[list[str], list[float], list[list[tuple[str, str]]], list[list[tuple[str, str]]], list[int]]:
    """Per instance: hostnames (trailing dot), weights, A answers, AAAA answers, rcode per name."""
    hosts, weights, a_ans, aaaa_ans, rcodes = [], [], [], [], []
    for s in SERVICES:
        host = s[0].format(region=inst.region)
        ips = [host_ip(host, inst.region, s[3], k) for k in range(IPS_PER_HOST)]
        cname = [("CNAME", s[5] + ".")] if s[5] else []
        hosts.append(host + ".")
        weights.append(s[4] * 2.2 + (0.4 if s[2] == 17 else 0.0))
        a_ans.append(cname + [("A", ip) for ip in ips[: 2 + len(host) % 3]])
        v6 = hashlib.sha256(host.encode()).hexdigest()
        aaaa_ans.append(cname + ([("AAAA", f"2a04:4e42:{int(v6[:3], 16)}::{int(v6[3:6], 16) % 999}")] if s[3] == "151.101." else []))
        rcodes.append(0)
    net = org.vpc_cidr[inst.account.id]
    internal = [(f"db-primary.prod.{org.company}.internal.", f"{net}20.{11 + len(org.company)}", 3.0),
                (f"cache.prod.{org.company}.internal.", f"{net}21.{40 + len(org.company)}", 2.0),
                (f"{org.company}-prod.cluster-c{hashlib.sha256(inst.account.id.encode()).hexdigest()[:11]}.{inst.region}.rds.amazonaws.com.",
                 f"{net}22.{7 + len(org.company)}", 2.5),
                (f"{inst.hostname}.", inst.private_ip, 0.6),
                (f"api.{org.domain}.", f"{int(inst.account.id[:2]) % 50 + 3}.{int(inst.account.id[2:4])}.{int(inst.account.id[4:6])}.{int(inst.account.id[6:8]) + 1}", 0.8)]
    for name, ip, wt in internal:
        hosts.append(name)
        weights.append(wt)
        a_ans.append([("A", ip)])
        aaaa_ans.append([])
        rcodes.append(0)
    for name in NX_NAMES:
        hosts.append(name)
        weights.append(0.06)
        a_ans.append([])
        aaaa_ans.append([])
        rcodes.append(3)
    return hosts, weights, a_ans, aaaa_ans, rcodes


def background(org: Org, rng: np.random.Generator, scale: float) -> pa.Table:
    """A ``route53_2_0`` table of the instances' DNS queries over the whole period (about 7k rows a day at scale 1)."""
    insts = org.instances
    n_inst = len(insts)
    n = int(rng.poisson(ROWS_PER_DAY * org.days * scale * n_inst / 9))
    t = diurnal_times(org, rng, n, flatness=0.65)
    w = np.array([PURPOSE_WEIGHT.get(i.purpose, 1.0) for i in insts])
    owner = rng.choice(n_inst, n, p=w / w.sum())

    # per instance the name table; answers flattened into one element table with set offsets
    name_pool: list[str] = []
    name_base, n_names = np.zeros(n_inst, dtype="int64"), 0
    elem_type: list[str] = []
    elem_rdata: list[str] = []
    set_off = [0]
    set_rcode: list[int] = []
    cum_w: list[np.ndarray] = []
    for j, inst in enumerate(insts):
        hosts, weights, a_ans, aaaa_ans, rcodes = _names(org, inst)
        name_base[j] = len(name_pool)
        n_names = len(hosts)
        name_pool += hosts
        for ans in a_ans + aaaa_ans:  # set index: (base + name) for A, (base + n_names + name) for AAAA
            elem_type += [a[0] for a in ans]
            elem_rdata += [a[1] for a in ans]
            set_off.append(len(elem_type))
        set_rcode += rcodes + rcodes
        cum_w.append(np.cumsum(weights) / np.sum(weights))
    name_idx = np.empty(n, dtype="int64")
    for j in range(n_inst):  # one draw per instance, not per event
        m = owner == j
        name_idx[m] = np.searchsorted(cum_w[j], rng.random(int(m.sum())), side="right")
    qtype = rng.choice(np.array([0, 1, 2]), n, p=[0.68, 0.30, 0.02])  # A, AAAA, TXT
    aaaa = qtype == 1
    sets = 2 * name_base[owner] + name_idx + np.where(aaaa, n_names, 0)
    set_off_a = np.array(set_off, dtype="int64")
    rcode = np.array(set_rcode, dtype="int64")[sets]
    servfail = rng.random(n) < 0.0015
    rcode[servfail] = 2
    lengths = np.where((rcode == 0) & (qtype < 2), set_off_a[sets + 1] - set_off_a[sets], 0)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    elem = np.repeat(set_off_a[sets] - offsets[:-1], lengths) + np.arange(offsets[-1])
    hostname = pick(name_pool, name_base[owner] + name_idx)

    cols = class_columns(4003, np.full(n, 6), 1)
    vpcs = [i.vpc_id for i in insts]
    endpoints = [resolver_endpoint(v) for v in vpcs]
    accounts, regions = [i.account.id for i in insts], [i.region for i in insts]
    rc_keys = sorted(RCODES)
    cols.update(fixed_columns(n))
    cols.update({
        "cloud.account.uid": pick(accounts, owner), "cloud.region": pick(regions, owner),
        "src_endpoint.vpc_uid": pick(vpcs, owner), "src_endpoint.ip": pick([i.private_ip for i in insts], owner),
        "src_endpoint.port": rng.integers(32768, 61000, n).astype("int32"), "src_endpoint.instance_uid": pick([i.id for i in insts], owner),
        "time": t, "time_dt": t,
        "query.hostname": hostname, "query.type": pick(["A", "AAAA", "TXT"], qtype), "query.class": repeat("IN", n),
        "answers": list_of_structs(offsets, {"type": pick(elem_type, elem), "rdata": pick(elem_rdata, elem), "class": repeat("IN", len(elem))},
                                   SOURCE.schema.field("answers").type),
        "dst_endpoint.instance_uid": pick([e[0] for e in endpoints], owner), "dst_endpoint.interface_uid": pick([e[1] for e in endpoints], owner),
        "rcode_id": rcode.astype("int32"), "rcode": pick([RCODES[k] for k in rc_keys], np.searchsorted(rc_keys, rcode)),
        "observables": observables(np.arange(0, 2 * n + 1, 2), pick(["query.hostname", "src_endpoint.ip"], np.tile([0, 1], n)),
                                   _interleave(hostname, pick([i.private_ip for i in insts], owner)), np.tile([1, 2], n),
                                   SOURCE.schema.field("observables").type),
    })
    cols.update(partition_columns(pick(accounts, owner), pick(regions, owner)))
    return build_table(SOURCE, cols, n)


def _interleave(a: pa.Array, b: pa.Array) -> pa.Array:
    """``a[0], b[0], a[1], b[1], …`` as one array."""
    n = len(a)
    order = np.empty(2 * n, dtype="int64")
    order[0::2], order[1::2] = np.arange(n), np.arange(n) + n
    return pa.concat_arrays([a, b]).take(pa.array(order))
