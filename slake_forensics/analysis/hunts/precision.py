"""How noisy each hunt is on a lake, and which ATT&CK techniques the hunts cover.

A hunt that fires every day on routine work trains analysts to ignore it.  :func:`precision_report`
runs the hunts over a window and gives, per hunt, its hits per day with the parameters that tune
it and what a false positive looks like; :func:`attack_coverage` crosses the hunts' ATT&CK
techniques with what fired.  Neither reads an answer key: on a lake whose malicious events are
known (the sample lake, a training lake), subtract them to get the background rate.
"""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import pandas as pd

from slake_forensics.core.timewindow import TimeLike

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from slake_forensics.engines.base import Engine

#: Hits per day above which :func:`precision_report` marks a hunt as noisy.
NOISY_PER_DAY = 5.0

#: The columns of :func:`precision_report`.
REPORT_COLUMNS = ["name", "stage", "severity", "hits", "days", "hits_per_day", "max_per_day", "noisy",
                  "tuning", "false_positive", "error"]


def hit_times(hits: pd.DataFrame) -> pd.Series:
    """The time of each hit: the first column named ``time_dt`` or ending in ``time_dt``.

    Parameters
    ----------
    hits
        A hunt's hits frame (:func:`slake_forensics.analysis.hunts.run`).

    Returns
    -------
    pandas.Series
        UTC timestamps, one per hit (empty when the frame has no time column).

    Examples
    --------
    >>> import pandas as pd
    >>> hit_times(pd.DataFrame({"first_time_dt": pd.to_datetime(["2026-03-02T10:00Z"])})).dt.day.tolist()
    [2]
    """
    cols = [c for c in hits.columns if c == "time_dt"] + [c for c in hits.columns if str(c).endswith("time_dt")]
    if not cols:
        return pd.Series([], dtype="datetime64[ns, UTC]")
    return pd.to_datetime(hits[cols[0]], utc=True)


def daily_hits(summary: pd.DataFrame) -> pd.DataFrame:
    """Hits per hunt per UTC day from a :func:`~slake_forensics.analysis.hunts.run_all` summary.

    Parameters
    ----------
    summary
        The frame ``run_all`` returns (its ``attrs["hits"]`` holds each hunt's hits).

    Returns
    -------
    pandas.DataFrame
        One row per hunt, one column per day of the summary's window (``YYYY-MM-DD``), counts as ints.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> summary = sf.hunts.run_all(sf.Lake.sample(), "post_incident", "2026-05-20T00:00Z", "2026-05-23T00:00Z")
    >>> days = daily_hits(summary)
    >>> list(days.columns), days.loc["persistence_not_removed"].tolist()
    (['2026-05-20', '2026-05-21', '2026-05-22'], [0, 1, 0])
    """
    start, end = summary.attrs["window"]
    days = pd.date_range(pd.Timestamp(start).floor("D"), pd.Timestamp(end) - pd.Timedelta(milliseconds=1), freq="D")
    labels = [d.strftime("%Y-%m-%d") for d in days]
    rows = {}
    for name, hits in summary.attrs["hits"].items():
        counts = hit_times(hits).dt.strftime("%Y-%m-%d").value_counts()
        rows[name] = [int(counts.get(label, 0)) for label in labels]
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels).rename_axis("name")


def precision_report(
    lake: Engine,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    stage: str | None = None,
    *,
    noisy_per_day: float = NOISY_PER_DAY,
    summary: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Hits per hunt per day over a window, noisiest first, with each hunt's tuning parameters.

    Parameters
    ----------
    lake
        The lake to run the hunts on.
    start, end
        The window (default: the hunts' default, the 14 days before the lake clock).
    stage
        Only the hunts of this NIST stage (default: all).
    noisy_per_day
        Mean hits per day above which a hunt is marked ``noisy``.
    summary
        A :func:`~slake_forensics.analysis.hunts.run_all` result to report on instead of running the hunts again.

    Returns
    -------
    pandas.DataFrame
        One row per hunt: ``name, stage, severity, hits, days`` (days in the window),
        ``hits_per_day`` (mean), ``max_per_day``, ``noisy`` (bool), ``tuning`` (parameter →
        default, the knobs that narrow the hunt), ``false_positive`` (what a benign hit looks
        like: the hunt's required ``false_positives``) and ``error`` (why it did not run, or missing).
        ``attrs["daily"]`` holds :func:`daily_hits`.

    Examples
    --------
    >>> import slake_forensics as sf
    >>> rep = precision_report(sf.Lake.sample(), "2026-05-20T00:00Z", "2026-05-23T00:00Z", stage="post_incident")
    >>> list(rep.columns[:6])
    ['name', 'stage', 'severity', 'hits', 'days', 'hits_per_day']
    >>> rep[["name", "hits", "days", "hits_per_day", "noisy"]].to_dict("records")
    [{'name': 'persistence_not_removed', 'hits': 1, 'days': 3, 'hits_per_day': 0.33, 'noisy': False}]
    """
    from slake_forensics.analysis import hunts

    if summary is None:
        summary = hunts.run_all(lake, stage=stage, start=start, end=end)
    daily = daily_hits(summary)
    n_days = max(daily.shape[1], 1)
    rows: list[dict[str, Any]] = []
    for rec in summary.to_dict("records"):
        hunt = hunts.get(rec["name"])
        ran = rec["name"] in daily.index
        peak = int(daily.loc[rec["name"]].max()) if ran and daily.shape[1] else 0
        rows.append({
            "name": rec["name"], "stage": rec["stage"], "severity": rec["severity"],
            "hits": int(rec["hits"]) if ran else pd.NA, "days": n_days,
            "hits_per_day": round(int(rec["hits"]) / n_days, 2) if ran else pd.NA,
            "max_per_day": peak if ran else pd.NA,
            "noisy": bool(ran and int(rec["hits"]) / n_days > noisy_per_day),
            "tuning": {n: p.default for n, p in hunt.params.items()},
            "false_positive": hunt.false_positives,
            "error": rec["error"],
        })
    out = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    out = out.sort_values(["hits_per_day", "name"], ascending=[False, True], na_position="last", kind="stable")
    out = out.reset_index(drop=True)
    out.attrs = {"daily": daily, "window": summary.attrs["window"], "noisy_per_day": noisy_per_day}
    return out


def attack_coverage(summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """ATT&CK techniques × hunts: which hunt looks for which technique and whether it fired.

    Parameters
    ----------
    summary
        A :func:`~slake_forensics.analysis.hunts.run_all` result; without one, only coverage is shown.

    Returns
    -------
    pandas.DataFrame
        One row per (technique, hunt): ``technique``, ``parent`` (the parent technique's id, e.g.
        ``T1078`` for ``T1078.004``), ``hunt, stage, kind`` (``hunt`` or ``sigma``), ``hits``
        (``<NA>`` without a summary or when the hunt did not run) and ``fired`` (bool).

    Examples
    --------
    >>> cov = attack_coverage()
    >>> sorted(cov.columns)
    ['fired', 'hits', 'hunt', 'kind', 'parent', 'stage', 'technique']
    >>> bool((cov["technique"].str.match(r"T\\d{4}")).all())
    True
    """
    from slake_forensics.analysis import hunts

    hits = {} if summary is None else dict(zip(summary["name"], summary["hits"]))
    rows = []
    sigma_names = set(hunts.sigma_rules()["name"])
    for entry in hunts.list().to_dict("records"):  # package hunts and registered Sigma rules
        name = entry["name"]
        for tech in entry["techniques"]:
            n = hits.get(name, pd.NA)
            rows.append({"technique": tech, "parent": tech.split(".")[0], "hunt": name, "stage": entry["stage"],
                         "kind": "sigma" if name in sigma_names else "hunt", "hits": n,
                         "fired": bool(not pd.isna(n) and int(n) > 0)})
    out = pd.DataFrame(rows, columns=["technique", "parent", "hunt", "stage", "kind", "hits", "fired"])
    out["hits"] = out["hits"].astype("Int64")
    return out.sort_values(["technique", "hunt"], kind="stable").reset_index(drop=True)


def plot_attack_coverage(coverage: pd.DataFrame, *, title: str = "ATT&CK coverage") -> Figure:
    """Draw techniques (rows) × hunts (columns): grey where a hunt covers a technique, red where it fired.

    Parameters
    ----------
    coverage
        :func:`attack_coverage`'s frame.
    title
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        The picture (shown by Jupyter when it is a cell's last value).

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> fig = plot_attack_coverage(attack_coverage())
    >>> len(fig.axes)
    1
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    techs = sorted(coverage["technique"].unique())
    names = builtins.list(dict.fromkeys(coverage.sort_values(["stage", "hunt"])["hunt"]))
    grid = pd.DataFrame(0, index=techs, columns=names)
    for rec in coverage.to_dict("records"):
        grid.loc[rec["technique"], rec["hunt"]] = 2 if rec["fired"] else 1
    fig, ax = plt.subplots(figsize=(max(6.0, 0.28 * len(names) + 2.5), max(3.0, 0.24 * len(techs) + 1.5)))
    ax.imshow(grid.to_numpy(), cmap=ListedColormap(["#ffffff", "#c8ccd2", "#d62728"]), vmin=0, vmax=2, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(techs)), techs, fontsize=7)
    ax.set_xlabel("hunt")
    ax.set_ylabel("ATT&CK technique")
    fired = int(coverage.loc[coverage["fired"], "technique"].nunique())
    ax.set_title(f"{title}: {len(techs)} techniques covered, {fired} fired")
    ax.legend(handles=[Patch(color="#c8ccd2", label="covered"), Patch(color="#d62728", label="fired")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    plt.close(fig)
    return fig
