"""Post-incident metrics from tagged bookmarks, hunt matching, and the lessons-learned report."""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest
from fixture_lake import DAY0, DAYS

from slake_forensics import Case
from slake_forensics.workflows import report
from slake_forensics.lake import Lake
from slake_forensics.analysis.normalize import normalize

T = pd.Timestamp("2026-03-04T00:00:00Z")
HOSTILE = "<script>alert('x')</script>"


def at(hours: float) -> pd.Timestamp:
    return T + pd.Timedelta(hours=hours)


@pytest.fixture
def case(tmp_path: Path) -> Case:
    """A case with tagged bookmarks at known times (hours after T) and a few IOCs and notes."""
    c = Case.open(tmp_path / "case", analyst="tester", title=f"Leaked key {HOSTILE}")
    early = c.bookmark("ev-0", "cloud_trail_mgmt", tags=["malicious"], time=at(-5))  # retracted below
    c.bookmark("ev-1", "cloud_trail_mgmt", note="first use of the key", tags=[" Malicious ", "recon"], time=at(1),
               row={"actor": "arn:aws:iam::111122223333:user/svc", "src_ip": "203.0.113.7", "summary": "svc ListBuckets"})
    c.bookmark("ev-2", "s3_data", tags=["malicious", "exfiltration"], time=at(3),
               row={"actor": "arn:aws:iam::111122223333:user/svc", "target": "acme-finance/report.csv"})
    c.bookmark("f-1", "sh_findings", note=HOSTILE, time=at(2.5),  # an untagged finding, earlier than the tagged one
               row={"class_name": "Detection Finding", "actor": "GuardDuty", "summary": "GuardDuty: Exfiltration:S3"})
    c.bookmark("f-2", "sh_findings", tags=["DETECTION"], time=at(4),
               row={"class_name": "Detection Finding", "actor": "Macie", "summary": "Macie: sensitive data read"})
    c.bookmark("ev-3", "vpc_flow", tags=["malicious"], time=at(9.5))
    c.bookmark("ct-1", "cloud_trail_mgmt", tags=["containment"], time=at(6), note="key deactivated")
    c.bookmark("ct-2", "cloud_trail_mgmt", tags=["containment"], time=at(7))
    c.bookmark("ev-4", "cloud_trail_mgmt", tags=["malicious"])  # no time: counted, not placed
    assert isinstance(early, int)  # one event, one seq
    c.retract(early, "benign: the owner's own test")
    c.add_ioc("ip", "203.0.113.7")
    c.add_ioc("ip", "198.51.100.9")
    c.add_ioc("access_key", "AKIAIOSFODNN7EXAMPLE")
    c.add_ioc("other", HOSTILE)
    c.note(f"Owner confirmed the key was in a public repo {HOSTILE}")
    return c


def test_metrics_equal_hand_computation(case: Case) -> None:
    m = report.incident_metrics(case)
    assert m["first_malicious"] == at(1) and m["last_malicious"] == at(9.5)
    assert (m["detection"], m["detection_uid"], m["detection_basis"], m["detection_source"]) == (at(4), "f-2", "tag", "sh_findings")
    assert (m["containment"], m["containment_uid"]) == (at(6), "ct-1")
    assert m["dwell_time"] == m["time_to_detect"] == pd.Timedelta(hours=3)
    assert m["time_to_contain"] == pd.Timedelta(hours=2)
    assert m["attack_duration"] == pd.Timedelta(hours=8.5)
    assert m["exposure"] == pd.Timedelta(hours=5)
    assert m["bookmarks"] == 8 and m["malicious_events"] == 4 and m["malicious_after_containment"] == 1
    assert m["bookmarks_by_source"] == {"cloud_trail_mgmt": 4, "sh_findings": 2, "s3_data": 1, "vpc_flow": 1}
    assert m["malicious_by_source"] == {"cloud_trail_mgmt": 2, "s3_data": 1, "vpc_flow": 1}
    assert m["bookmarks_by_tag"] == {"malicious": 4, "containment": 2, "detection": 1, "exfiltration": 1, "recon": 1}
    assert m["iocs_by_type"] == {"ip": 2, "access_key": 1, "other": 1}


def test_detection_falls_back_to_earliest_bookmarked_finding(tmp_path: Path) -> None:
    c = Case.open(tmp_path / "c", analyst="t")
    c.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time=at(0))
    c.bookmark("f-late", "sh_findings", time=at(8))
    c.bookmark("f-class", "cloud_trail_mgmt", time=at(5), row={"class_name": "Detection Finding"})
    m = report.incident_metrics(c)
    assert (m["detection"], m["detection_uid"], m["detection_basis"]) == (at(5), "f-class", "finding")
    assert m["dwell_time"] == pd.Timedelta(hours=5)
    assert m["containment"] is None and m["time_to_contain"] is None and m["exposure"] is None


def test_custom_tags(tmp_path: Path) -> None:
    c = Case.open(tmp_path / "c", analyst="t")
    c.bookmark("a", "cloud_trail_mgmt", tags=["bad"], time=at(1))
    c.bookmark("b", "sh_findings", tags=["alert"], time=at(2))
    c.bookmark("c", "cloud_trail_mgmt", tags=["fix"], time=at(4))
    m = report.incident_metrics(c, malicious_tag="Bad", detection_tag="alert", containment_tag="fix")
    assert (m["first_malicious"], m["detection"], m["containment"]) == (at(1), at(2), at(4))
    assert report.incident_metrics(c)["first_malicious"] is None


def test_empty_case_and_its_report(tmp_path: Path) -> None:
    c = Case.open(tmp_path / "c", analyst="t")
    m = report.incident_metrics(c)
    assert all(m[k] is None for k in ("first_malicious", "detection", "containment", "dwell_time", "detection_basis"))
    assert m["bookmarks"] == 0 and m["iocs_by_type"] == {}
    paths = report.render_report(c, m)
    assert set(paths) == {"markdown", "html"}
    assert "No timed events to draw" in paths["html"].read_text()


def test_format_duration() -> None:
    assert report.format_duration(pd.Timedelta(days=2, hours=3, minutes=4, seconds=5)) == "2 d 3 h 4 min"
    assert report.format_duration(pd.Timedelta(seconds=42)) == "42 s"
    assert report.format_duration(-pd.Timedelta(hours=1)) == "-1 h"
    assert report.format_duration(None) == "—"


def test_report_files_and_html_escaping(case: Case) -> None:
    m = report.incident_metrics(case)
    paths = report.render_report(case, m, missing_logs={"s3_data": f"off in one account {HOSTILE}"},
                                 actions=[f"Rotate keys {HOSTILE}", "Enable S3 data events everywhere"])
    assert paths["markdown"] == case.path / "reports" / "lessons_learned.md"
    assert paths["html"] == case.path / "reports" / "lessons_learned.html"
    page = paths["html"].read_text(encoding="utf-8")
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "\\<script\\>" in md and not re.search(r"(?<!\\)<", md)  # shown literally, never raw HTML
    assert not re.search(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);", md)  # Markdown without HTML entities
    for text in (page, md):
        for section in ("Summary", "Timeline", "Metrics", "What was detected by what",
                        "Hunts that would have fired earlier", "Missing logs", "Action items"):
            assert section in text
        assert "Enable S3 data events everywhere" in text and "Owner confirmed the key" in text
        assert "3 h" in text and "2026-03-04 01:00:00 UTC" in text  # dwell time, first malicious
    png = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert png and base64.b64decode(png[1]).startswith(b"\x89PNG")
    assert paths["png"].read_bytes() == base64.b64decode(png[1])
    assert "Macie" in page and "GuardDuty" in page  # detected by what
    assert "1 malicious event(s) happened after containment" in md


def test_report_with_a_given_timeline_and_out_dir(case: Case, tmp_path: Path) -> None:
    tl = report.bookmark_timeline(case)
    assert tl["uid"].tolist() == ["ev-1", "f-1", "ev-2", "f-2", "ct-1", "ct-2", "ev-3"]
    paths = report.render_report(case, report.incident_metrics(case), tl, out_dir=tmp_path / "out")
    assert all(p.parent == tmp_path / "out" for p in paths.values())


def _malicious(case: Case) -> pd.DataFrame:
    bm = report.tagged_bookmarks(case)
    return bm[bm["tagset"].map(lambda t: "malicious" in t).astype(bool)]


def test_match_hits_by_uid_and_by_entity_at_the_time(case: Case) -> None:
    mal = _malicious(case)
    by_uid = pd.DataFrame({"time_dt": [at(50)], "metadata.uid": ["ev-3"]})
    assert report.match_hits(by_uid, mal) == (1, {"ev-3"}, at(50))
    grouped = pd.DataFrame({
        "first_time_dt": [at(0.5), at(0.5), at(20)], "last_time_dt": [at(3.5), at(3.5), at(21)],
        "ips": [["203.0.113.7"], ["192.0.2.1"], ["203.0.113.7"]],  # 2nd: no shared entity; 3rd: wrong time
        "buckets": [["ACME-FINANCE"], [], []],
    })
    assert report.match_hits(grouped, mal) == (1, {"ev-1", "ev-2"}, at(1))  # not before the first event it is about
    near = pd.DataFrame({"time_dt": [at(1) + pd.Timedelta(minutes=4)], "actor.user.uid": ["arn:aws:iam::111122223333:user/svc"]})
    assert report.match_hits(near, mal)[0] == 1
    assert report.match_hits(near, mal, tolerance=pd.Timedelta(minutes=3))[0] == 0


def test_hunts_that_would_have_fired_with_stub_hunts(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    from slake_forensics.analysis import hunts

    hits = hunts.HitsByHunt({
        "early": pd.DataFrame({"time_dt": [at(1)], "src_endpoint.ip": ["203.0.113.7"]}),
        "late": pd.DataFrame({"time_dt": [at(9.5)], "metadata.uid": ["ev-3"]}),
        "noise": pd.DataFrame({"time_dt": [at(1)], "src_endpoint.ip": ["10.0.0.1"]}),
    })
    summary = pd.DataFrame({
        "name": ["early", "late", "noise", "broken"], "title": ["E", "L", "N", "B"],
        "stage": ["detection_analysis"] * 4, "severity": ["high"] * 4, "techniques": [[]] * 4,
        "hits": pd.array([1, 1, 1, pd.NA], dtype="Int64"), "error": [None, None, None, "source(s) waf not in this lake"],
    })
    summary.attrs = {"hits": hits, "window": (at(-24), at(24))}
    seen: dict[str, object] = {}

    def fake_run_all(lake, stage, start, end, **options):
        seen.update(stage=stage, start=start, end=end)
        return summary

    monkeypatch.setattr(hunts, "run_all", fake_run_all)
    out = report.hunts_that_would_have_fired(object(),  # type: ignore[arg-type]  # stubbed run_all never reads it
        case, at(-24), at(24))
    assert seen == {"stage": None, "start": at(-24), "end": at(24)}
    assert out["name"].tolist() == ["early", "late", "noise", "broken"]
    row = out.set_index("name")
    assert row.loc["early", "lead"] == pd.Timedelta(hours=3) and row.loc["early", "fired_before_detection"]
    assert row.loc["late", "lead"] == pd.Timedelta(hours=-5.5) and not row.loc["late", "fired_before_detection"]
    assert row.loc["noise", "malicious_hits"] == 0 and pd.isna(row.loc["noise", "first_match"])
    assert row.loc["broken", "error"].startswith("source(s)") and pd.isna(row.loc["broken", "hits"])
    assert out.attrs["detection"] == at(4)
    md = report.render_report(case, report.incident_metrics(case), hunts=out)["markdown"].read_text()
    assert "| early | E |" in md and "3 h" in md and "not earlier" in md and "| noise |" not in md


def test_hunts_on_the_fixture_lake(lake: Lake, ct: pd.DataFrame, tmp_path: Path) -> None:
    tl = normalize(ct)
    trail = tl[(tl["activity"] == "DeleteTrail")].iloc[0]
    c = Case.open(tmp_path / "c", analyst="t")
    c.bookmark(trail, tags=["malicious"])
    c.bookmark("finding", "sh_findings", tags=["detection"], time=trail["time"] + pd.Timedelta(hours=6))
    out = report.hunts_that_would_have_fired(lake, c, DAY0, DAY0 + pd.Timedelta(days=DAYS))
    row = out.set_index("name").loc["cloudtrail_tampering"]
    assert row["malicious_hits"] >= 1 and row["events_hit"] == 1
    assert row["first_match"] == trail["time"] and row["lead"] == pd.Timedelta(hours=6)
    assert out["error"].notna().any()  # hunts over sources the fixture lake lacks are reported, not raised


def test_metrics_are_defined_apart_and_differ(case: Case) -> None:
    table = report.metrics_frame(report.incident_metrics(case)).set_index("metric")
    assert list(table.columns) == ["value", "definition"]
    values = {k: table.loc[k, "value"] for k in ("Time to detect", "Dwell time", "Time to contain", "Attack duration")}
    assert values == {"Time to detect": "3 h", "Dwell time": "5 h", "Time to contain": "2 h", "Attack duration": "8 h 30 min"}
    assert "→ detection" in table.loc["Time to detect", "definition"]
    assert "→ containment" in table.loc["Dwell time", "definition"]
    assert table.index.is_unique and table["definition"].str.len().gt(0).all()


def test_report_executive_summary_notes_responders_and_manifest(case: Case) -> None:
    arn = "arn:aws:securityhub:us-east-1:111122223333:subsystem/amazon/guardduty/finding/0123456789abcdef"
    case.note(f"GuardDuty finding {arn} confirmed by the owner")
    case.export(pd.DataFrame({"ip": ["203.0.113.7"]}), "scanner_ips", note="the attacker's IPs")
    paths = report.render_report(case, report.incident_metrics(case))
    md = paths["markdown"].read_text(encoding="utf-8")
    page = paths["html"].read_text(encoding="utf-8")
    summary = " ".join(md[md.index("## Executive Summary"):md.index("## Notes")].split())  # unwrapped
    assert md.index("## Executive Summary") < md.index("## Metrics")
    assert "111122223333" in summary and "acme-finance/report.csv" in summary  # accounts, data touched
    assert "8 h 30 min" in summary and "iam user/svc" in summary  # duration, short actor
    notes = md[md.index("## Notes"):md.index("## Timeline")]
    flat = " ".join(notes.split())
    assert "securityhub subsystem/…/0123456789abcdef (…3333)" in flat and f"= {arn}" in flat  # short, full kept
    assert all(len(line) <= 100 or line.startswith("  arn:") for line in notes.splitlines())  # wrapped
    timeline = md[md.index("## Timeline"):md.index("## Responders' actions")]
    responders = md[md.index("## Responders' actions"):md.index("## Metrics")]
    assert "key deactivated" in responders and "containment" in responders and "key deactivated" not in timeline
    manifest = md[md.index("## Evidence manifest"):]
    sha = case.exports.set_index("name").loc["scanner_ips", "sha256"]
    assert "evidence/scanner\\_ips.parquet" in manifest or "evidence/scanner_ips.parquet" in manifest
    assert sha in manifest and sha in page
    assert "@media print" in page and "page-break-inside:avoid" in page and "thead{display:table-header-group}" in page


def test_containment_actions_are_not_credited_as_hunt_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slake_forensics.analysis import hunts

    c = Case.open(tmp_path / "c", analyst="t")
    c.bookmark("ev-1", "cloud_trail_mgmt", tags=["malicious"], time=at(1))
    c.bookmark("ct-1", "cloud_trail_mgmt", tags=["malicious", "containment"], time=at(6))  # tagged both by mistake
    c.bookmark("f-1", "sh_findings", tags=["detection"], time=at(4))
    summary = pd.DataFrame({"name": ["containment_actions"], "title": ["C"], "stage": ["containment"],
                            "severity": ["low"], "techniques": [[]], "hits": pd.array([1], dtype="Int64"),
                            "error": [None]})
    summary.attrs = {"hits": hunts.HitsByHunt({"containment_actions": pd.DataFrame(
        {"time_dt": [at(6)], "metadata.uid": ["ct-1"]})}), "window": (at(-24), at(24))}
    monkeypatch.setattr(hunts, "run_all", lambda lake, stage, start, end, **options: summary)
    row = report.hunts_that_would_have_fired(object(),  # type: ignore[arg-type]  # stubbed run_all never reads it
        c, at(-24), at(24)).iloc[0]
    assert row["malicious_hits"] == 0 and row["events_hit"] == 0


@pytest.mark.parametrize("kind", ["Exfiltration:S3", "CryptoCurrency"])
def test_report_timeline_labels_do_not_overlap_on_the_bundled_incidents(tmp_path: Path, kind: str) -> None:
    import slake_forensics as sf
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    from slake_forensics.workflows.rendering import LABEL_GID, timeline_figure

    lake = sf.Lake.sample()
    tri = sf.findings(lake, "2026-05-11T00:00Z", "2026-05-25T00:00Z")
    inc = sf.investigate(lake, tri[tri["type"].str.startswith(kind)].iloc[0])
    c = Case.open(tmp_path / "c", analyst="t")
    inc.bookmark(c)
    fig = timeline_figure(c, report.bookmark_timeline(c))
    assert fig is not None
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    labels = [t for ax in fig.axes for t in ax.texts if t.get_gid() == LABEL_GID]
    assert len(labels) >= 5  # the incident's events are labelled, not only counted
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1), (a, b)
