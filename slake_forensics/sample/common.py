"""Vectorized building blocks shared by every source generator and story.

Everything returns NumPy arrays or Arrow arrays of one value per event, ready for
:func:`slake_forensics.sample.writer.build_table`.  No function here loops in Python
per event, so the scale mode can produce tens of millions of rows.
"""
from __future__ import annotations

from collections.abc import Sequence

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from slake_forensics.core.catalog import vocabulary
from slake_forensics.sample.org import Org, Principal

#: A null for ``np.where(mask, value, NULL)`` giving an object array (numpy's type stubs refuse a bare ``None``).
NULL: np.ndarray = np.array(None, dtype=object)

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 24 * MS_PER_HOUR
ASL_VERSION = "2.0"


def pick(pool: Sequence[str | None], idx: np.ndarray) -> pa.Array:
    """Strings ``pool[idx]`` as an Arrow string array (fast: dictionary decode, no Python loop; ``None`` → null)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(idx, dtype="int32")), pa.array(list(pool), pa.string())).cast(pa.string())


def const(value: object, n: int) -> np.ndarray:
    """An array of ``n`` copies of ``value``."""
    return np.full(n, value, dtype=object if isinstance(value, str) or value is None else None)


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random RFC-4122 version-4 UUID strings drawn from ``rng``."""
    chars = np.ascontiguousarray(hex_ids(rng, n, 32)).view("U1").reshape(n, 32).copy()
    chars[:, 12] = "4"
    chars[:, 16] = np.array(list("89ab"))[rng.integers(0, 4, n)]
    dash = np.full((n, 1), "-")
    parts = [chars[:, 0:8], dash, chars[:, 8:12], dash, chars[:, 12:16], dash, chars[:, 16:20], dash, chars[:, 20:32]]
    return pa.array(np.ascontiguousarray(np.concatenate(parts, axis=1)).view("U36").ravel(), pa.string())


def hex_ids(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` random lower-case hex strings of ``length`` characters."""
    raw = rng.integers(0, 16, size=(n, length), dtype=np.uint8)
    chars = np.frombuffer(b"0123456789abcdef", dtype="S1")[raw]
    return chars.view(f"S{length}").ravel().astype(f"U{length}")


def ocsf_class_columns(class_uid: int | np.ndarray, activity_id: np.ndarray, severity_id: int | np.ndarray = 1) -> dict:
    """The classification columns every OCSF event carries, by the OCSF 1.1.0 rules.

    Returns ``class_uid/class_name/category_uid/category_name/activity_id/activity_name/
    type_uid/type_name/severity_id/severity`` and ``metadata.version`` (``1.1.0``);
    ``type_uid = class_uid * 100 + activity_id``, ``type_name = "<class>: <activity>"``.
    """
    activity_id = np.asarray(activity_id, dtype="int64")
    n = len(activity_id)
    class_uid = np.broadcast_to(np.asarray(class_uid, dtype="int64"), (n,))
    severity_id = np.broadcast_to(np.asarray(severity_id, dtype="int64"), (n,))
    voc = vocabulary()
    classes = sorted(set(class_uid.tolist()))
    class_name = np.empty(n, dtype=object)
    cat_uid = np.empty(n, dtype="int64")
    cat_name = np.empty(n, dtype=object)
    act_name = np.empty(n, dtype=object)
    sev_name = np.empty(n, dtype=object)
    for cu in classes:
        m = class_uid == cu
        c = voc[cu]
        class_name[m], cat_uid[m], cat_name[m] = c["name"], c["category_uid"], c["category_name"]
        for aid in np.unique(activity_id[m]):
            act_name[m & (activity_id == aid)] = c["activity_id"][int(aid)]
        for sid in np.unique(severity_id[m]):
            sev_name[m & (severity_id == sid)] = c["severity_id"][int(sid)]
    return {
        "class_uid": class_uid.astype("int32"), "class_name": class_name, "category_uid": cat_uid.astype("int32"),
        "category_name": cat_name, "activity_id": activity_id.astype("int32"), "activity_name": act_name,
        "type_uid": class_uid * 100 + activity_id, "type_name": np.char.add(np.char.add(class_name.astype(str), ": "), act_name.astype(str)).astype(object),
        "severity_id": severity_id.astype("int32"), "severity": sev_name, "metadata.version": const("1.1.0", n),
    }


def habit_times(org: Org, p: Principal, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Epoch-ms times of one principal's calls over the sample period, following its habits.

    Working days draw about ``p.daily_calls * scale`` calls inside the principal's local working
    hours (bursty: calls cluster in short sessions); weekends draw ``weekend_activity`` of that;
    24-hour principals (``work_hours == (0, 24)``) get a flat diurnal profile.  Sorted.
    """
    start_ms = int(org.start.value // 1_000_000)
    days = np.arange(org.days)
    weekday = ((org.start.weekday() + days) % 7) < 5
    rate = np.where(weekday, p.daily_calls, p.daily_calls * p.weekend_activity) * scale
    counts = rng.poisson(rate)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype="int64")
    day_of = np.repeat(days, counts)
    h0, h1 = p.work_hours
    if (h0, h1) == (0, 24):
        ms_in_day = rng.integers(0, MS_PER_DAY, total)
    else:
        # sessions: a few centres per day, calls spread minutes around them
        centres = rng.uniform(h0, h1, total) * MS_PER_HOUR
        jitter = rng.normal(0, 12 * 60_000, total)
        ms_in_day = (centres + jitter - p.tz_offset_h * MS_PER_HOUR).astype("int64")
    t = start_ms + day_of.astype("int64") * MS_PER_DAY + ms_in_day
    t = np.clip(t, start_ms, start_ms + org.days * MS_PER_DAY - 1)
    return np.sort(t)


def diurnal_times(org: Org, rng: np.random.Generator, n: int, *, peak_hour_utc: float = 15.0, flatness: float = 0.5) -> np.ndarray:
    """``n`` epoch-ms times over the period with a daily cycle peaking at ``peak_hour_utc``.

    ``flatness`` in [0, 1]: 1 is uniform, 0 is strongly diurnal.  Weekends carry 60% of
    weekday volume.  Sorted.
    """
    start_ms = int(org.start.value // 1_000_000)
    days = np.arange(org.days)
    w = np.where(((org.start.weekday() + days) % 7) < 5, 1.0, 0.6)
    day_of = rng.choice(days, size=n, p=w / w.sum())
    uniform = rng.random(n) < flatness
    hours = np.where(uniform, rng.uniform(0, 24, n), (rng.normal(peak_hour_utc, 3.5, n)) % 24)
    t = start_ms + day_of.astype("int64") * MS_PER_DAY + (hours * MS_PER_HOUR).astype("int64")
    return np.sort(t)


def partition_columns(account_ids: np.ndarray | pa.Array, regions: np.ndarray | pa.Array) -> dict:
    """``accountid``, ``region`` and ``asl_version`` columns (plain strings, as in the v2 tables)."""
    n = len(account_ids)
    return {"accountid": account_ids, "region": regions, "asl_version": const(ASL_VERSION, n)}


def observables(offsets: np.ndarray, names: Sequence[str] | np.ndarray, values: Sequence[str] | np.ndarray,
                type_ids: np.ndarray, typ: pa.ListType) -> pa.ListArray:
    """The ``observables`` column: per row the (name, value, type, type_id) entries in ``offsets`` order.

    ``type_id``: 1 Hostname, 2 IP Address, 4 User Name, 10 Resource UID, 20 Endpoint, 99 Other.
    """
    from slake_forensics.sample.writer import list_of_structs

    type_names = {1: "Hostname", 2: "IP Address", 4: "User Name", 10: "Resource UID", 20: "Endpoint", 99: "Other"}
    tids = np.asarray(type_ids, dtype="int64")
    return list_of_structs(offsets, {"name": names, "value": values, "type": np.array([type_names[int(t)] for t in tids], dtype=object) if len(tids) < 10000 else pick(
        [type_names[k] for k in sorted(type_names)], np.searchsorted(sorted(type_names), tids)), "type_id": tids.astype("int32")}, typ)


def ragged(n: int, slots: Sequence[dict], key: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Flatten per-row optional slots into ``(offsets, {field: element values})`` for a list column.

    Each slot maps field names to per-row arrays (length ``n``) or scalars; a row whose ``key``
    value is null has no element from that slot.  Elements keep slot order within a row;
    ``offsets`` has ``n + 1`` entries, ready for :func:`~slake_forensics.sample.writer.list_of_structs`.
    """
    import pandas as pd

    def obj(v: object) -> np.ndarray:
        if isinstance(v, (pa.Array, pa.ChunkedArray)):
            return np.asarray(v.to_numpy(zero_copy_only=False), dtype=object)
        if v is None or np.isscalar(v):
            return np.full(n, v, dtype=object)
        return np.asarray(v, dtype=object)

    rows: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {}
    for slot in slots:
        idx = np.flatnonzero(pd.notna(obj(slot[key])))
        rows.append(idx)
        for f, v in slot.items():
            parts.setdefault(f, []).append(obj(v)[idx])
    if not rows:
        return np.zeros(n + 1, dtype="int64"), {}
    r = np.concatenate(rows)
    order = np.argsort(r, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))]).astype("int64")
    return offsets, {f: np.concatenate(v)[order] for f, v in parts.items()}


def string_map(n: int, entries: Sequence[tuple[str, object]]) -> pa.MapArray:
    """A ``map<string,string>`` column (``unmapped``) of ``n`` rows.

    ``entries`` are ``(key, per-row values or scalar)``; null values leave the key out of that row.
    """
    offsets, cols = ragged(n, [{"v": v, "k": k} for k, v in entries], "v")
    keys = pa.array(cols.get("k", np.empty(0, dtype=object)), pa.string())
    vals = pa.array(cols.get("v", np.empty(0, dtype=object)), pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets, pa.int32()), keys, vals)


def same_list(values: Sequence[str], n: int) -> pa.ListArray:
    """A ``list<string>`` column of ``n`` rows, each holding ``values`` (e.g. ``metadata.profiles``)."""
    k = len(values)
    return pa.ListArray.from_arrays(pa.array(np.arange(0, k * n + 1, k), pa.int32()), pick(values, np.tile(np.arange(k), n)))


def pick_or_null(pool: Sequence[str], idx: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Like :func:`pick`, with null where ``valid`` is False."""
    indices = pa.array(np.where(valid, idx, 0).astype("int32"), pa.int32(), mask=~np.asarray(valid, dtype=bool))
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(pool), pa.string())).cast(pa.string())


def ip_strings(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Dotted-quad strings from four octet arrays (vectorized)."""
    out = np.char.add(np.asarray(a).astype(str), ".")
    for part in (b, c):
        out = np.char.add(np.char.add(out, np.asarray(part).astype(str)), ".")
    return np.char.add(out, np.asarray(d).astype(str)).astype(object)


def repeat(value: str, n: int) -> pa.Array:
    """``n`` copies of the string ``value`` as an Arrow string array (much faster than :func:`const` for big ``n``)."""
    return pa.repeat(pa.scalar(value, pa.string()), n)


def class_columns(class_uid: int, activity_id: np.ndarray, severity_id: int = 1) -> dict:
    """:func:`ocsf_class_columns` for one class and one severity, as Arrow arrays (fast for millions of rows).

    Returns the same keys: ``class_uid/class_name/category_uid/category_name/activity_id/activity_name/
    type_uid/type_name/severity_id/severity`` and ``metadata.version``.
    """
    voc = vocabulary()[class_uid]
    activity_id = np.asarray(activity_id, dtype="int64")
    n = len(activity_id)
    acts = sorted(voc["activity_id"])
    idx = np.searchsorted(acts, activity_id)
    return {
        "class_uid": np.full(n, class_uid, dtype="int32"), "class_name": repeat(voc["name"], n),
        "category_uid": np.full(n, voc["category_uid"], dtype="int32"), "category_name": repeat(voc["category_name"], n),
        "activity_id": activity_id.astype("int32"), "activity_name": pick([voc["activity_id"][a] for a in acts], idx),
        "type_uid": class_uid * 100 + activity_id, "type_name": pick([f"{voc['name']}: {voc['activity_id'][a]}" for a in acts], idx),
        "severity_id": np.full(n, severity_id, dtype="int32"), "severity": repeat(voc["severity_id"][severity_id], n),
        "metadata.version": repeat("1.1.0", n),
    }


#: RFC 1918 private IPv4 ranges (10/8, 172.16/12, 192.168/16) as one pattern.
PRIVATE_IPV4 = r"^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.)"


def is_private_ip(ips: pa.Array) -> np.ndarray:
    """Per value: is it an RFC 1918 private IPv4 address (null → False)."""
    return np.asarray(pc.fill_null(pc.match_substring_regex(ips, PRIVATE_IPV4), False).to_numpy(zero_copy_only=False), dtype=bool)


def s3_gateway_endpoint(account_id: str) -> str:
    """The (stable, made-up) ``vpce-…`` id of the S3 gateway endpoint in ``account_id``'s VPC.

    S3 sees a private source address only through a VPC endpoint, and then CloudTrail names it in
    ``vpcEndpointId`` (→ ``src_endpoint.uid``).
    """
    return f"vpce-0{hashlib.sha256(f's3-gateway|{account_id}'.encode()).hexdigest()[:16]}"
