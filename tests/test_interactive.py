"""The interactive Bokeh timeline: hover with the summary, source/entity filters, select -> bookmark into a case."""
from __future__ import annotations

import pytest
from bokeh.models import BoxSelectTool, CustomJS, HoverTool, PanTool, TapTool, WheelZoomTool

import slake_forensics as sf


@pytest.fixture(scope="module")
def tl():
    ct = sf.Lake.sample().load("cloud_trail_mgmt", "2026-05-21T03:30Z", "2026-05-21T03:34Z")
    return sf.timeline(ct)


def test_hover_shows_summary_and_source_lanes(tl):
    it = sf.interactive_timeline(tl)
    hover = it.figure.select_one({"type": HoverTool})
    assert ("summary", "@summary") in hover.tooltips
    assert it.source.data["summary"] == tl["summary"].astype("string").fillna("").tolist()
    assert list(it.figure.y_range.factors) == sorted(set(tl["source"]))[::-1]
    assert it.figure.select_one({"type": BoxSelectTool}) is not None
    assert it.figure.select_one({"type": TapTool}) is not None
    assert it.figure.select_one({"type": PanTool}).dimensions == "width"
    assert it.figure.select_one({"type": WheelZoomTool}).dimensions == "width"


def test_source_and_entity_filters_drive_the_view(tl):
    it = sf.interactive_timeline(tl)
    assert it.sources.options == sorted(set(tl["source"]))
    assert it.filter.booleans == [True] * len(tl)
    for control in (it.sources, it.entity):
        (callback,) = control.js_property_callbacks["change:value"]
        assert isinstance(callback, CustomJS)
        assert callback.args["filter"] is it.filter and callback.args["src"] is it.source
        assert {"actor", "src_ip", "summary"} <= set(callback.args["fields"])


def test_select_then_bookmark_writes_tags_and_note_to_case(tl, tmp_path):
    case = sf.Case.open(tmp_path / "case", analyst="alice")
    it = sf.interactive_timeline(tl, bookmark=case.bookmark)
    it.bookmark_button.click()
    assert case.bookmarks.empty and "Select events" in it.status.value
    it.source.selected.indices = [3, 1]
    it.tags.value, it.note.value = " exfil, recon ,", "  attacker enumerating  "
    it._bookmark()
    marks = case.bookmarks
    assert sorted(marks["uid"]) == sorted(tl["uid"].iloc[[1, 3]])
    assert [list(t) for t in marks["tags"]] == [["exfil", "recon"]] * 2
    assert marks["note"].tolist() == ["attacker enumerating"] * 2
    assert it.status.value == "Bookmarked 2 event(s) tagged exfil, recon."


def test_page_is_offline(tl, tmp_path):
    page = sf.interactive_timeline(tl).save(tmp_path / "tl.html").read_text()
    assert "cdn.bokeh.org" not in page and "<script src=" not in page
    assert "Bokeh" in page and "@summary" in page


def test_display_bundle_has_widget_view_and_offline_html(tl):
    data = sf.interactive_timeline(tl, title="Incident timeline")._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data  # JupyterLab renders the widget only
    html = data["text/html"]  # the fallback for renderers without the live widget (nbconvert)
    assert "cdn.bokeh.org" not in html and "<script src=" not in html
    assert "Bokeh" in html and "embed_items" in html and "@summary" in html and "Incident timeline" in html
    # a fragment, not file_html's page: no <!DOCTYPE>, and its html/body styles do not leak into a notebook page
    assert not html.lstrip().lower().startswith("<!doctype") and "html, body {" not in html


def test_nbconvert_export_without_widget_state_shows_the_plot(tl):
    nbformat = pytest.importorskip("nbformat")
    from nbconvert import HTMLExporter

    data = sf.interactive_timeline(tl, title="Incident timeline")._repr_mimebundle_()
    cell = nbformat.v4.new_code_cell("sf.interactive_timeline(tl)", execution_count=1, outputs=[
        nbformat.v4.new_output("execute_result", data=data, execution_count=1)])
    html, _ = HTMLExporter().from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert 'type="application/vnd.jupyter.widget-view+json"' not in html  # no widget state: skipped
    assert "data-root-id" in html and "embed_items" in html and "Incident timeline" in html
    assert "cdn.bokeh.org" not in html
