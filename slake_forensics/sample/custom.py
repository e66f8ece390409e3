"""The sample lake's custom source: the head office's on-premises firewall, as OCSF Network Activity.

Security Lake stores a custom source's OCSF Parquet under ``ext/<name>/<version>/`` with the
partition ``accountId=external`` (or ``external_<id>``) when the data is not of an AWS account.
This one makes the mixed-environment investigation visible on the bundled lake:

* background: staff workstations (``10.20.x.x``) reaching SaaS and package mirrors through the
  office's NAT address (allowed, outbound), staff connecting to the VPN portal from home ISPs
  (allowed, inbound), and internet noise probing one or two ports of the office address (denied);
* one link to the S3 data-theft story: during the intrusion its first attacker address scans
  the office's VPN portal on many ports in one hour (denied), so a pivot on that address reaches
  the on-premises log and the inbound-scan hunt flags it through the custom source.

The rows have the columns of ``vpc_flow_2_0`` (class 4001); the product is the firewall's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from slake_forensics.core.catalog import SOURCES, Source, custom_source
from slake_forensics.sample.common import (class_columns, diurnal_times, observables, partition_columns, pick, repeat,
                                           same_list, string_map)
from slake_forensics.sample.org import HOME_ISP_NETS, HOSTING_NETS, Org
from slake_forensics.sample.sources.vpc_flow import random_public_ips
from slake_forensics.sample.writer import build_table, write_source

NAME = "onprem_firewall"
VERSION = "1.0"
ACCOUNT = "external"
#: Ports an internet scanner tries on the VPN portal.
SCAN_PORTS = (21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 389, 443, 445, 636, 993, 1194, 1723, 3389, 4443, 8080, 8443, 10443)


def source() -> Source:
    """The custom :class:`Source` the firewall log is written as (``ext_onprem_firewall``)."""
    return custom_source(NAME, (4001,), VERSION)


def write(org: Org, rng: np.random.Generator, scale: float, answers: dict[str, dict], out: Path) -> tuple[Source, int, list[Path]]:
    """Write the firewall log below ``out``; return ``(source, rows, files)``."""
    table = _table(org, rng, scale, answers)
    src = source()
    return src, table.num_rows, write_source(table, out, src, rng)


def _table(org: Org, rng: np.random.Generator, scale: float, answers: dict[str, dict]) -> pa.Table:
    office = org.corporate_cidrs[0] + "1"
    portal = org.corporate_cidrs[0] + "2"
    n_out = int(1500 * org.days * scale)
    n_vpn = int(60 * org.days * scale)
    n_noise = int(40 * org.days * scale)
    staff = np.char.add("10.20.", np.char.add(np.char.add(rng.integers(0, 8, n_out).astype(str), "."),
                                              rng.integers(10, 250, n_out).astype(str))).astype(object)
    region = org.regions[0]
    parts = [
        _flows(diurnal_times(org, rng, n_out), staff, random_public_ips(rng, n_out, ("151.101.", "104.16.", "140.82.", "52.94.")),
               rng.integers(32768, 61000, n_out), np.where(rng.random(n_out) < 0.9, 443, 80), 2, True, rng, office, region),
        _flows(diurnal_times(org, rng, n_vpn), random_public_ips(rng, n_vpn, HOME_ISP_NETS), np.full(n_vpn, portal, dtype=object),
               rng.integers(32768, 61000, n_vpn), np.full(n_vpn, 443), 1, True, rng, office, region),
        _flows(diurnal_times(org, rng, n_noise, flatness=1.0), random_public_ips(rng, n_noise, HOSTING_NETS),
               np.full(n_noise, office, dtype=object), rng.integers(32768, 61000, n_noise),
               rng.choice(np.array([22, 23, 445, 3389]), n_noise), 1, False, rng, office, region),
    ]
    story = answers.get("s3_data_access")
    if story and story.get("ips"):
        first = pd.Timestamp(story["first_malicious"]).value // 1_000_000
        last = pd.Timestamp(story["last_malicious"]).value // 1_000_000
        start = first + (last - first) // 3
        ports = np.array(SCAN_PORTS)
        t = start + np.sort(rng.integers(0, 20 * 60_000, len(ports)))
        parts.append(_flows(t, np.full(len(ports), story["ips"][0], dtype=object), np.full(len(ports), portal, dtype=object),
                            rng.integers(32768, 61000, len(ports)), ports, 1, False, rng, office, region))
    return pa.concat_tables(parts).sort_by("time")


def _flows(t: np.ndarray, src: np.ndarray, dst: np.ndarray, sport: np.ndarray, dport: np.ndarray, direction: int,
           allowed: bool, rng: np.random.Generator, office: str, region: str) -> pa.Table:
    """Firewall session records: one row per connection (the firewall logs sessions, not both ENI sides)."""
    n = len(t)
    t = np.asarray(t, dtype="int64")
    cols = class_columns(4001, np.full(n, 6 if allowed else 5), 1)
    sent = np.clip(rng.lognormal(np.log(6000 if allowed else 60), 1.2, n), 40, 5e8).astype("int64")
    ips = np.empty(2 * n, dtype=object)
    ips[0::2], ips[1::2] = src, dst
    cols.update({
        "metadata.product.name": repeat("PAN-OS", n), "metadata.product.vendor_name": repeat("Palo Alto Networks", n),
        "metadata.product.feature.name": repeat("Traffic log", n), "metadata.product.version": repeat("11.1", n),
        "metadata.profiles": same_list(["security_control", "datetime"], n), "cloud.provider": repeat("On-premises", n),
        "unmapped": string_map(n, [("nat_src_ip", office if direction == 2 else "-"), ("device_name", "hq-fw-01")]),
        "src_endpoint.ip": src, "src_endpoint.port": sport.astype("int32"),
        "dst_endpoint.ip": dst, "dst_endpoint.port": np.asarray(dport).astype("int32"),
        "connection_info.protocol_num": np.full(n, 6, dtype="int32"), "connection_info.protocol_ver": repeat("IPv4", n),
        "connection_info.direction_id": np.full(n, direction, dtype="int32"),
        "connection_info.direction": repeat("Outbound" if direction == 2 else "Inbound", n),
        "traffic.bytes": sent, "traffic.packets": np.maximum(1, sent // 900),
        "time": t, "time_dt": t, "start_time_dt": t, "end_time_dt": t + rng.integers(50, 90_000 if allowed else 1_000, n),
        "status_code": repeat("OK", n),
        "action": repeat("Allowed" if allowed else "Denied", n), "action_id": np.full(n, 1 if allowed else 2, dtype="int32"),
        "disposition": repeat("Allowed" if allowed else "Blocked", n),
        "observables": observables(np.arange(0, 2 * n + 1, 2), pick(["src_endpoint.ip", "dst_endpoint.ip"], np.tile([0, 1], n)),
                                   ips, np.full(2 * n, 2), SOURCES["vpc_flow"].schema.field("observables").type),
    })
    cols.update(partition_columns(np.full(n, ACCOUNT, dtype=object), np.full(n, region, dtype=object)))
    return build_table(SOURCES["vpc_flow"], cols, n)
