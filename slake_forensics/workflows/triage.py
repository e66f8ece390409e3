"""Triage (NIST SP 800-61 detection and analysis): the lake's findings, one row per finding, most urgent first.

:func:`findings` lists the findings of a window (a finding's updates folded into one row), threat
detectors' findings first, then by severity; :func:`plot_findings` draws them per day and type;
:func:`choose_finding` and :func:`finding_picker` pick the one to follow with
:func:`slake_forensics.workflows.investigation.investigate`.

The triage rules (which products detect threats, the names of the severities) are data:
``data/triage.yaml``, read once at import and checked.
"""
from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.core.timewindow import TimeLike, Window
from slake_forensics.sql.build import scope_predicate
from slake_forensics.workflows import _data

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from slake_forensics.lake import Lake

_RULES = _data.load("triage.yaml")
#: Finding products that detect threats (as opposed to posture checks and vulnerability scans).
THREAT_PRODUCTS: tuple[str, ...] = _RULES["threat_products"].texts()
#: Security Hub's ``Resources[].Id`` of a GuardDuty access-key finding: ``AWS::IAM::AccessKey:<key id>``.
ACCESS_KEY_PREFIX = "AWS::IAM::AccessKey:"
#: OCSF ``severity_id`` -> severity name.
SEVERITY_NAMES: dict[int, str] = _RULES["severity_names"].numbered(0, 99)
#: The columns of :func:`findings`.
TRIAGE_COLUMNS = ["finding_uid", "first_seen", "last_seen", "updates", "product", "title", "type", "severity_id",
                  "severity", "threat", "account", "region", "access_keys", "instances", "buckets", "resource_uids",
                  "resource_data"]


class InvestigationError(LookupError):
    """The chosen finding cannot be followed (unknown id, or no resource the investigation can pivot on)."""


FINDINGS_SQL = """
SELECT finding_info.uid AS finding_uid,
       min(time_dt) AS first_seen,
       max(time_dt) AS last_seen,
       count(*) AS updates,
       arbitrary(metadata.product.name) AS product,
       arbitrary(finding_info.title) AS title,
       arbitrary(finding_info.types) AS types,
       max(severity_id) AS severity_id,
       arbitrary(accountid) AS account,
       arbitrary(region) AS region,
       arbitrary(COALESCE(transform(resources, r -> r.type),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.type] END)) AS resource_types,
       arbitrary(COALESCE(transform(resources, r -> r.uid),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.uid] END)) AS resource_uids,
       arbitrary(COALESCE(transform(resources, r -> r.data),
                          CASE WHEN resource.uid IS NOT NULL THEN ARRAY[resource.data] END)) AS resource_data
FROM {table}
WHERE {scope}
GROUP BY finding_info.uid
"""


def findings(lake: Lake, start: TimeLike, end: TimeLike) -> pd.DataFrame:
    """Findings first or last seen in ``[start, end)``, one row per finding, for triage.

    A finding's updates (Security Hub re-sends a finding each time it changes) are folded into
    one row.

    Parameters
    ----------
    lake
        The lake (its ``sh_findings`` source).
    start, end
        The window.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRIAGE_COLUMNS`: ``finding_uid``, ``first_seen``, ``last_seen`` (UTC),
        ``updates`` (rows folded), ``product``, ``title``, ``type`` (the most specific part of
        the first ASFF type, e.g. ``Exfiltration:S3-AnomalousBehavior``), ``severity_id``,
        ``severity`` (its name, :data:`SEVERITY_NAMES`), ``threat`` (True for
        :data:`THREAT_PRODUCTS`), ``account``, ``region``, ``access_keys``, ``instances``,
        ``buckets`` (lists of resource ids; access keys without Security Hub's ``AWS::IAM::AccessKey:``
        prefix, instance and bucket ARNs shortened to ids; Compliance and Vulnerability findings' singular
        ``resource`` counts as their one resource),
        ``resource_uids`` and ``resource_data`` (lists, one item per resource).  Sorted threat
        findings first, then by severity (highest first) and first seen.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> tri[["type", "severity", "instances"]].head(2)
                                       type severity              instances
    0  CryptoCurrency:EC2-BitcoinTool.B!DNS     High  [i-c1a762c56d643463c]
    1      CryptoCurrency:EC2-BitcoinTool.B     High  [i-c1a762c56d643463c]
    >>> bool(tri["finding_uid"].is_unique), int(tri["threat"].sum())
    (True, 20)
    """
    w = Window.of(start, end)
    scope, bound = scope_predicate(w)
    sql = FINDINGS_SQL.format(table=lake.table_name("sh_findings"), scope=" AND ".join(scope))
    df = lake.sql(sql, bound, start=w.start, end=w.end)
    if df.empty:
        return pd.DataFrame(columns=TRIAGE_COLUMNS)
    df["type"] = df["types"].map(lambda ts: str(list(ts)[0]).rsplit("/", 1)[-1] if ts is not None and len(ts) else "")
    df["severity_id"] = df["severity_id"].astype("int64")
    df["severity"] = df["severity_id"].map(lambda s: SEVERITY_NAMES.get(int(s), str(s)))
    df["threat"] = df["product"].isin(THREAT_PRODUCTS)
    df["resource_data"] = df["resource_data"].map(_items)
    res = [list(zip(_items(t), _items(u))) for t, u in zip(df["resource_types"], df["resource_uids"])]
    df["access_keys"] = [[_key_id(u) for t, u in r if t == "AwsIamAccessKey"] for r in res]
    df["instances"] = [[_short(u) for t, u in r if t == "AwsEc2Instance"] for r in res]
    df["buckets"] = [[_short(u) for t, u in r if t == "AwsS3Bucket"] for r in res]
    df["resource_uids"] = [[u for _, u in r] for r in res]
    df = df.sort_values(["threat", "severity_id", "first_seen"], ascending=[False, False, True], ignore_index=True)
    return df[TRIAGE_COLUMNS]


def plot_findings(triage: pd.DataFrame, *, top: int = 12) -> Figure:
    """Draw the triage list: threat findings and posture findings in separate rows of panels.

    Threat detectors' findings (``threat``) get their own row, so the day-one flood of posture
    checks and vulnerability scans does not hide them.

    Parameters
    ----------
    triage
        A :func:`findings` frame.
    top
        How many finding types each row's second panel shows.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels (a :func:`~slake_forensics.analysis.timeline.new_figure`: a notebook cell
        displays it by ending with it): threat findings first seen per day by severity (stacked
        bars) and their types (the ``top`` most frequent) (``product: type``) by count; then the same for the other
        (posture) findings.  A row without findings says so in its title.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> fig = sf.plot_findings(sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z"))
    >>> [ax.get_title() for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
    ['Threat findings (20) first seen per day, by severity', 'Threat finding types',
     'Posture findings (239) first seen per day, by severity', 'Posture finding types']
    >>> sorted({ax.get_ylabel() for ax in fig.axes} | {ax.get_xlabel() for ax in fig.axes})
    ['', 'findings']
    """
    from slake_forensics.analysis.timeline import new_figure

    fig = new_figure(figsize=(13, 7.2), layout="constrained")
    axes = fig.subplots(2, 2, gridspec_kw={"width_ratios": [3, 2]})
    colors = {"Informational": "#c7c7c7", "Low": "#9ecae1", "Medium": "#fdae6b", "High": "#e6550d", "Critical": "#a50f15"}
    first_day = pd.to_datetime(triage["first_seen"], utc=True).dt.floor("D").dt.tz_localize(None)
    days = pd.date_range(first_day.min(), first_day.max(), freq="D") if len(triage) else pd.DatetimeIndex([])
    threat = triage["threat"].astype(bool) if len(triage) else pd.Series([], dtype=bool)
    for (ax1, ax2), rows, kind in ((axes[0], triage[threat], "threat"), (axes[1], triage[~threat], "posture")):
        if rows.empty:
            ax1.set_title(f"No {kind} findings in the window")
            ax2.set_axis_off()
            continue
        per_day = pd.crosstab(first_day[rows.index], rows["severity"]).reindex(days, fill_value=0)
        per_day.index = [d.strftime("%m-%d") for d in per_day.index]
        order = [s for s in SEVERITY_NAMES.values() if s in per_day.columns]
        per_day[order].plot.bar(stacked=True, ax=ax1, width=0.9, color=[colors.get(s, "#777777") for s in order])
        ax1.tick_params(axis="x", labelrotation=90)
        ax1.set(title=f"{kind.capitalize()} findings ({len(rows):,}) first seen per day, by severity", xlabel="",
                ylabel="findings")
        ax1.legend(fontsize="small", title=None)
        counts = (rows["product"] + ": " + rows["type"]).value_counts()
        types = counts.head(top)[::-1]
        types.plot.barh(ax=ax2, color="#6a51a3" if kind == "threat" else "#9e9ac8")
        ax2.set(title=f"{kind.capitalize()} finding types" if len(counts) <= top else f"Top {top} {kind} finding types", xlabel="findings", ylabel="")
        ax2.tick_params(axis="y", labelsize="small")
    return fig


def readable(df: pd.DataFrame, *, width: int = 40) -> Any:
    """A notebook view of ``df``: short ARNs and long text with the full value on hover, times to the second.

    ARNs show their last part (``…/finding/0a1b``), other text longer than ``width`` is cut with
    ``…``; hovering a cut cell shows its full value (a ``title`` tooltip).  Times show as
    ``YYYY-MM-DD HH:MM:SS`` in UTC, lists as ``[a, b]``.  The frame itself is unchanged.

    Parameters
    ----------
    df
        Any frame (a triage list, a scope, a timeline).
    width
        The longest text shown whole.

    Returns
    -------
    pandas.io.formats.style.Styler
        Display it as a cell's value; ``.data`` is ``df``.

    Examples
    --------
    >>> df = pd.DataFrame({"finding_uid": ["arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/0a1b"],
    ...                    "first_seen": [pd.Timestamp("2026-05-14T20:36:01.123Z")], "instances": [["i-1", "i-2"]]})
    >>> html = readable(df).to_html()
    >>> "…/finding/0a1b" in html, "2026-05-14 20:36:01" in html, "[i-1, i-2]" in html
    (True, True, True)
    >>> 'title="arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/0a1b"' in html
    True
    """
    def text(value: Any) -> str:
        if isinstance(value, pd.Timestamp):
            return (value.tz_convert("UTC") if value.tzinfo else value).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, list | tuple) or (hasattr(value, "__len__") and hasattr(value, "dtype")
                                                and not isinstance(value, str)):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return "" if value is None or (not isinstance(value, str | bytes) and pd.isna(value)) else str(value)

    def short(value: str) -> str:
        if value.startswith("arn:") and ("/" in value or value.count(":") > 5):
            tail = value.rsplit(":", 1)[-1]
            return "…/" + "/".join(tail.split("/")[-2:]) if "/" in tail else "…:" + tail
        return value if len(value) <= width else value[: width - 1] + "…"

    def cell(value: Any) -> str:
        full = text(value)
        shown = escape(short(full))
        return shown if short(full) == full else f'<span title="{escape(full, quote=True)}">{shown}</span>'

    return df.style.format(cell)


def choose_finding(triage: pd.DataFrame, finding_uid: str | None = None) -> pd.Series:
    """The triage row of one finding.

    Parameters
    ----------
    triage
        A :func:`findings` frame.
    finding_uid
        The finding's id (default: the first row's, the most severe threat finding).

    Returns
    -------
    pandas.Series
        The finding's row.

    Raises
    ------
    InvestigationError
        When the triage frame is empty or the id is not in it.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> from slake_forensics.workflows.triage import choose_finding
    >>> choose_finding(tri)["type"]
    'CryptoCurrency:EC2-BitcoinTool.B!DNS'
    >>> choose_finding(tri, tri["finding_uid"].iloc[3])["type"]
    'Exfiltration:S3-AnomalousBehavior'
    """
    if triage.empty:
        raise InvestigationError("There are no findings in this window: widen the window or check sh_findings is collected.")
    if finding_uid is None:
        return triage.iloc[0]
    hit = triage[triage["finding_uid"] == finding_uid]
    if hit.empty:
        raise InvestigationError(f"Finding {finding_uid!r} is not among the {len(triage)} findings of the window; "
                                 "copy its finding_uid from the triage table, or widen the window.")
    return hit.iloc[0]


def finding_picker(triage: pd.DataFrame, default: str | None = None, *, top: int = 25) -> Any:
    """An ipywidgets dropdown to pick the finding to follow.

    Read ``picker.value`` in the next notebook cell; headless runs keep the initial value.

    Parameters
    ----------
    triage
        A :func:`findings` frame.
    default
        The finding selected at first (default: the first row's).
    top
        How many of the first rows to offer (``default`` is added if further down).

    Returns
    -------
    ipywidgets.Dropdown
        Options labelled ``severity, first seen, product: type``; its ``value`` is a ``finding_uid``.

    Raises
    ------
    InvestigationError
        As :func:`choose_finding`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> lake = sf.Lake.sample()
    >>> tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    >>> from slake_forensics.workflows.triage import finding_picker
    >>> picker = finding_picker(tri, top=5)
    >>> len(picker.options), picker.value == tri["finding_uid"].iloc[0]
    (5, True)
    >>> picker.options[0][0]
    'High     05-14 20:36 GuardDuty: CryptoCurrency:EC2-BitcoinTool.B!DNS'
    """
    import ipywidgets as widgets

    first = choose_finding(triage, default)
    rows = pd.concat([triage.head(top), first.to_frame().T]).drop_duplicates("finding_uid")
    options = [(f"{r.severity:<8} {pd.Timestamp(r.first_seen):%m-%d %H:%M} {r.product}: {r.type}", r.finding_uid)
               for r in rows.itertuples()]
    return widgets.Dropdown(options=options, value=first["finding_uid"], description="Finding",
                            layout=widgets.Layout(width="95%"))


def _items(value: Iterable[Any] | None) -> list[Any]:
    """The elements of a list cell; ``[]`` for a missing one (None or pandas' NA)."""
    return [] if value is None or value is pd.NA else list(value)


def _key_id(uid: Any) -> str:
    """An access key id from a finding resource uid (Security Hub writes ``AWS::IAM::AccessKey:<key id>``)."""
    s = str(uid)
    return s[len(ACCESS_KEY_PREFIX):] if s.startswith(ACCESS_KEY_PREFIX) else s


def _short(arn: Any) -> str:
    s = str(arn)
    return s.rsplit("/", 1)[-1] if s.startswith("arn:aws:ec2:") else s.rsplit(":", 1)[-1] if s.startswith("arn:aws:s3:") else s
