"""VPC Flow Logs (text with a header line, or Parquet) → OCSF 1.1.0 Network Activity 4001, as Security Lake v2 maps them.

Text flow logs (default or custom format, versions 2–5) start with a header line naming the fields, space
separated, e.g. ``version account-id interface-id srcaddr …``; each following line is one record. Delivered to S3
they sit under ``AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/`` as ``.log.gz``; plain files are read too.
Parquet flow logs name the columns with underscores (``srcaddr``, ``pkt_srcaddr``, ``flow_direction``).

A field name the mapping does not know is kept, value as text, in ``unmapped`` under its name, so nothing is lost.
"""
from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from slake_forensics.importers.record import Mapped, RejectRecord

KIND = "vpcflow"
SUMMARY = "VPC Flow Logs: text (header line, default or custom format, v2-v5, .gz or plain) or Parquet"

_S3_PATH = re.compile(r"AWSLogs/(\d{12})/vpcflowlogs/([a-z0-9-]+)/")
_INTS = {"version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "tcp_flags", "traffic_path"}
_BOUNDARY = {1: "Same VPC", 2: "Internet/VPC Gateway", 3: "Virtual Private Gateway", 4: "Intra-region VPC",
             5: "Inter-region VPC", 6: "Local Gateway", 7: "Gateway VPC", 8: "Internet Gateway"}
_ENDPOINT = {"interface_id": "interface_uid", "vpc_id": "vpc_uid", "subnet_id": "subnet_uid", "instance_id": "instance_uid"}
_CONSUMED = {"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
             "bytes", "start", "end", "action", "log_status", "vpc_id", "subnet_id", "instance_id", "tcp_flags", "type",
             "pkt_srcaddr", "pkt_dstaddr", "region", "az_id", "pkt_src_aws_service", "pkt_dst_aws_service",
             "flow_direction", "traffic_path"}
_UNMAPPED_ALWAYS = ("sublocation_id", "sublocation_type")
#: The default format's fields (version 2), for a file without its header line.
_DEFAULT = ("version account_id interface_id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
            "log_status").split()


def _open_text(path: Path) -> Iterator[str | RejectRecord]:
    """The file's lines as text (a leading BOM dropped), or the reason a line or the rest of the file is unreadable.

    A line that is not UTF-8 is that line's reject; a gzip that is cut or not gzip ends the file with a reject,
    after the lines read before it.
    """
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        lines = iter(fh)
        first = True
        while True:
            try:
                data = next(lines)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as e:
                yield RejectRecord(f"the file cannot be read past this point (a cut or damaged gzip?): {e}")
                return
            if first and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8):]
            first = False
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError as e:
                yield RejectRecord(f"the line is not UTF-8 text ({e})")


def _path_hints(path: Path) -> dict[str, str]:
    m = _S3_PATH.search(path.as_posix())
    return {"_path_account": m.group(1), "_path_region": m.group(2)} if m else {}


def read(path: Path) -> Iterator[tuple[str, dict[str, Any] | RejectRecord]]:
    """Yield ``(origin, record)`` for every flow log record of one file.

    Parameters
    ----------
    path
        A text flow log (``.log``, ``.log.gz``, any name; first line is the header, else the default format
        is assumed for lines of its 14 fields) or a ``.parquet`` file.

    Returns
    -------
    Iterator of ``("<file>:<line>", {field_name: value})`` (text; field names with ``-`` turned into ``_``) or
    ``("<file>#<row>", {...})`` (Parquet); a line whose field count differs from the header's gives a
    ``RejectRecord`` instead of a record.

    Examples
    --------
    >>> for origin, rec in read(Path("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/01/02/x.log.gz")):  # doctest: +SKIP
    ...     ...
    """
    hints = _path_hints(path)
    if path.name.endswith(".parquet"):
        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, pa.ArrowException) as e:
            yield f"{path}#0", RejectRecord(f"the file cannot be read as Parquet (cut or not Parquet?): {e}")
            return
        for i, row in enumerate(rows):
            yield f"{path}#{i}", {**row, **hints}
        return
    header: list[str] | None = None
    named: list[str] = []  # the header line as written
    for lineno, line in enumerate(_open_text(path), start=1):
        if isinstance(line, RejectRecord):
            yield f"{path}:{lineno}", line
            continue
        parts = line.split()
        if not parts or parts == named:  # a blank line, or the header again (flow log files concatenated)
            continue
        if header is None:
            if parts[0] == "version" or (all(re.fullmatch(r"[a-z0-9-]+", p) for p in parts)
                                         and any(p.replace("-", "_") in _CONSUMED for p in parts)):
                header, named = [p.replace("-", "_") for p in parts], parts
                continue
            if len(parts) == len(_DEFAULT) and parts[0] == "2":  # no header (a CloudWatch Logs export): default format
                header = _DEFAULT
            else:
                yield f"{path}:{lineno}", RejectRecord(
                    "no flow log header line names the fields (e.g. 'version account-id interface-id srcaddr …') and "
                    "the line is not in the default format; export the log with its header line")
                continue
        if len(parts) != len(header):
            yield f"{path}:{lineno}", RejectRecord(
                f"line has {len(parts)} fields but the header names {len(header)}; the line is cut or from "
                f"another format")
            continue
        yield f"{path}:{lineno}", {**dict(zip(header, parts)), **hints}


READER = read


def _value(raw: Mapping[str, Any], key: str) -> Any:
    """The field's value with ``-`` as None and integer fields as int."""
    v = raw.get(key)
    if v is None or v == "-":
        return None
    if key in _INTS:
        try:
            return int(v)
        except (TypeError, ValueError):
            raise RejectRecord(f"field {key!r} should be an integer, got {v!r}") from None
    return str(v)


def map_record(raw: dict[str, Any], options: Mapping[str, str]) -> Mapped:
    """Map one flow log record to a ``vpc_flow`` row.

    Parameters
    ----------
    raw
        ``{field_name: value}`` with underscore names, values as text or numbers (``-`` for none).
    options
        ``account`` / ``region`` used when the record has no ``account_id`` / ``region`` field and the S3 path
        did not name them.

    Returns
    -------
    Mapped
        Source ``vpc_flow``, partitioned by the record's account and region.

    Examples
    --------
    >>> map_record({"version": "2", "account_id": "123456789012", "start": "1700000000", ...}, {"region": "eu-west-1"})  # doctest: +SKIP
    """
    start, end = _value(raw, "start"), _value(raw, "end")
    if start is None:
        raise RejectRecord("no 'start' field: a flow log record needs its start time")
    account = _value(raw, "account_id") or raw.get("_path_account") or options.get("account")
    region = _value(raw, "region") or options.get("region") or raw.get("_path_region")
    if not account:
        raise RejectRecord("no account-id field in the record: pass --account")
    if not region:
        raise RejectRecord("no region field in the record nor in the S3 path: pass --region")
    status = _value(raw, "log_status")
    action = _value(raw, "action")
    fd = _value(raw, "flow_direction")
    direction_id, direction = {"ingress": (1, "Inbound"), "egress": (2, "Outbound")}.get(fd or "", (0, "Unknown"))
    # the logging interface's own details belong to the endpoint on its side of the flow
    own = "dst_endpoint" if direction_id == 1 else "src_endpoint"
    if status in ("NODATA", "SKIPDATA") or action is None:
        activity_id, activity = 0, "Unknown"
    elif action == "ACCEPT":
        activity_id, activity = 6, "Traffic"
    else:
        activity_id, activity = 5, "Refuse"
    srcaddr, dstaddr = _value(raw, "srcaddr"), _value(raw, "dstaddr")
    pkt_src, pkt_dst = _value(raw, "pkt_srcaddr"), _value(raw, "pkt_dstaddr")
    src_ip = pkt_src or srcaddr or "-"
    dst_ip = pkt_dst or dstaddr or "-"
    tp = _value(raw, "traffic_path")
    row: dict[str, Any] = {
        "metadata.product.name": "Amazon VPC", "metadata.product.vendor_name": "AWS",
        "metadata.product.feature.name": "Flowlogs", "metadata.product.version": str(_value(raw, "version") or ""),
        "metadata.profiles": ["cloud", "security_control", "datetime"], "metadata.version": "1.1.0",
        "cloud.account.uid": account, "cloud.region": region, "cloud.zone": _value(raw, "az_id"), "cloud.provider": "AWS",
        "src_endpoint.ip": src_ip, "src_endpoint.port": _value(raw, "srcport"),
        "src_endpoint.svc_name": _value(raw, "pkt_src_aws_service") or "-",
        "dst_endpoint.ip": dst_ip, "dst_endpoint.port": _value(raw, "dstport"),
        "dst_endpoint.svc_name": _value(raw, "pkt_dst_aws_service") or "-",
        "connection_info.protocol_num": _value(raw, "protocol"), "connection_info.tcp_flags": _value(raw, "tcp_flags"),
        "connection_info.protocol_ver": _value(raw, "type"),
        "connection_info.boundary_id": 99 if tp is None else (tp + 3 if tp in _BOUNDARY else 99),
        "connection_info.boundary": "-" if tp is None else _BOUNDARY.get(tp, "Other"),
        "connection_info.direction_id": direction_id, "connection_info.direction": direction,
        "traffic.packets": _value(raw, "packets"), "traffic.bytes": _value(raw, "bytes"),
        "time": start * 1000, "time_dt": start * 1000, "start_time_dt": start * 1000,
        "end_time_dt": None if end is None else end * 1000, "status_code": status,
        "severity_id": 1, "severity": "Informational", "class_name": "Network Activity", "class_uid": 4001,
        "category_name": "Network Activity", "category_uid": 4, "activity_id": activity_id, "activity_name": activity,
        "type_uid": 400100 + activity_id, "type_name": f"Network Activity: {activity}",
    }
    if srcaddr and pkt_src and pkt_src != srcaddr:
        row["src_endpoint.intermediate_ips"] = [srcaddr]
    if dstaddr and pkt_dst and pkt_dst != dstaddr:
        row["dst_endpoint.intermediate_ips"] = [dstaddr]
    for key, leaf in _ENDPOINT.items():
        if (v := _value(raw, key)) is not None:
            row[f"{own}.{leaf}"] = v
    if action in ("ACCEPT", "REJECT"):
        allowed = action == "ACCEPT"
        row.update({"action_id": 1 if allowed else 2, "action": "Allowed" if allowed else "Denied",
                    "disposition": "Allowed" if allowed else "Blocked"})
    unmapped = {k: ("-" if v is None else str(v)) for k, v in raw.items()
                if k not in _CONSUMED and not k.startswith("_path_")}
    for k in _UNMAPPED_ALWAYS:
        unmapped.setdefault(k, "-")
    row["unmapped"] = unmapped
    obs = [("src_endpoint.ip", "IP Address", 2, src_ip), ("dst_endpoint.ip", "IP Address", 2, dst_ip)]
    if (inst := row.get(f"{own}.instance_uid")) is not None:
        obs.append((f"{own}.instance_uid", "Resource UID", 10, inst))
    row["observables"] = [{"name": n, "type": t, "type_id": i, "value": v} for n, t, i, v in obs if v != "-"]
    return Mapped("vpc_flow", account, region, row)
