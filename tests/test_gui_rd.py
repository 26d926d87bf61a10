"""The window's RD curves: sweeps (one image, every image, a labelled folder), reference
curves, pens and markers, the axes.

Driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen); the window, its fakes
and helpers are in :mod:`tests.guikit`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import Qt  # noqa: E402

from app.pipelines import registry  # noqa: E402
from tests.guikit import (  # noqa: E402
    _add,
    _drop,
    _idle,
    _labelled,
    _set,
    _wait,
    synthetic,
)


def test_sweep_adds_points_as_they_complete(win) -> None:
    win.panel_b.set_source("", emit=False)
    entry = _add(win, "sweep", synthetic(64, 96, 5))
    counts = []
    win.worker.result_ready.connect(lambda *_: counts.append(1))
    win.run_sweep([("hevc", [30, 40]), ("jpeg", [40, 80])])
    _idle(win)
    _wait(lambda: len(win.session.rd_series(entry.id).get("jpeg", [])) == 2)
    series = win.session.rd_series(entry.id)
    assert len(series["hevc"]) >= 2
    assert len(counts) >= 4
    _wait(lambda: {"hevc", "jpeg"} <= set(win.rd_panel.scatter_items))  # redraw is batched
    # BD table against hevc: too few points for a BD-rate, shown as a dash
    win.rd_panel.anchor.setCurrentIndex(win.rd_panel.anchor.findData("hevc"))
    assert win.rd_panel.bd_table.rowCount() >= 1


def test_sweep_all_images_and_mean_curves(win) -> None:
    win.panel_b.set_source("", emit=False)
    for k in range(2):  # at least two images, whatever ran before
        _add(win, f"mean{k}", synthetic(40, 56, 60 + k))
    win.rd_panel.sweep_all.setChecked(True)
    try:
        win.run_sweep([("jpeg", [30, 60])])
        _idle(win)
    finally:
        win.rd_panel.sweep_all.setChecked(False)
    n_images = len(win.session.images)
    for image_id in win.session.images:
        assert len(win.session.results_for(image_id, "jpeg")) >= 2
    win.rd_panel.scope_combo.setCurrentIndex(win.rd_panel.scope_combo.findData("all"))
    try:
        _idle(win)
        rows = {p[2]["value"]: p[2] for p in win.session.rd_series_mean()["jpeg"]}
        assert rows[30]["n"] == rows[60]["n"] == n_images
        tips = list(win.rd_panel.scatter_items["jpeg"].data["data"])
        assert any("q=30" in t and f"mean of {n_images} images" in t for t in tips), tips
    finally:
        win.rd_panel.scope_combo.setCurrentIndex(0)


def test_reference_curves_in_the_rd_plot_bd_table_and_anchor_menu(win, tmp_path,
                                                                  monkeypatch) -> None:
    """Data ▸ Add Reference Curve… (several files, one unreadable): dashed "(published)"
    curves and legend rows, BD rows, anchors; Clear Reference Curves removes them."""
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QFileDialog

    from app.eval import aggregate
    from app.refcurves import compressai_document, published_root

    win.panel_b.set_source("", emit=False)
    entry = _add(win, "refcurves", synthetic(64, 96, 41))
    win.run_sweep([("hevc", [24, 30, 36, 42])])
    _idle(win)
    _wait(lambda: len(win.session.rd_series(entry.id).get("hevc", [])) == 4)
    # this image's own hevc curve, as someone else's results file
    doc = compressai_document(aggregate(win.session.rd_points(entry.id))["hevc"])
    doc["name"] = "HEVC elsewhere"
    own = tmp_path / "hevc-elsewhere.json"
    own.write_text(json.dumps(doc))
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}')
    vtm = published_root() / "kodak" / "vtm.json"
    starts: list[str] = []

    def fake(parent, title, start, filters):  # noqa: ANN001, ANN202
        starts.append(start)
        return [str(vtm), str(own), str(bad)], filters

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake))
    n = len(win.dialogs)
    win.findChild(QAction, "actionAddReference").trigger()
    _idle(win)
    assert len(win.dialogs) == n + 1 and "bad.json" in win.dialogs[-1]
    assert "\n" not in win.dialogs[-1]
    panel = win.rd_panel
    labels = {"VTM (published)", "HEVC elsewhere (published)"}
    assert set(panel.reference_items) == labels
    assert labels <= set(panel.legend.names)
    pen = panel.reference_items["VTM (published)"].opts["pen"]
    assert pen.style() == Qt.PenStyle.DashLine
    # cut at the measured points' range, never past it
    assert max(panel.reference_items["VTM (published)"].xData) <= \
        max(p[0] for p in win.session.rd_series(entry.id)["hevc"]) * 1.08 + 1e-9

    def bd_rows() -> dict[str, str]:
        t = panel.bd_table
        return {t.item(r, 0).text(): t.item(r, 1).text() for r in range(t.rowCount())}

    panel.anchor.setCurrentIndex(panel.anchor.findData("hevc"))
    _idle(win)
    rows = bd_rows()
    assert labels <= set(rows)
    assert rows["HEVC elsewhere (published)"] in ("+0.0 %", "-0.0 %")
    # a published curve as the anchor
    panel.anchor.setCurrentIndex(panel.anchor.findData("HEVC elsewhere (published)"))
    _idle(win)
    rows = bd_rows()
    assert rows["hevc"] in ("+0.0 %", "-0.0 %") and "VTM (published)" in rows
    # the same file again is not a second curve; the dialog remembers the folder
    win.add_reference_curves()
    assert len(panel.references) == 2 and Path(starts[-1]) == vtm.parent
    win.findChild(QAction, "actionClearReferences").trigger()
    _idle(win)
    assert panel.references == [] and panel.reference_items == {}
    assert panel.anchor.findData("VTM (published)") < 0
    assert panel.anchor.currentData() == "hevc"
    assert not any(k.endswith("(published)") for k in bd_rows())


def test_every_registered_pipeline_has_its_own_style():
    from app.gui.rdplot import pipeline_style
    from app.plotstyle import PALETTE, pipeline_styles

    names = registry.available()
    styles = [pipeline_style(n, names) for n in names]
    assert len(set(styles)) == len(names)  # colour and marker together tell them apart
    assert {c for c, _ in styles} <= set(PALETTE)
    # by name, not by place in a list: the same in any order and any subset
    assert pipeline_styles(names) == pipeline_styles(list(reversed(names)))
    assert pipeline_styles(["webp", "menet"])["menet"] == pipeline_styles(names)["menet"]
    # 30 pipelines (plug-ins too): distinct colour-and-marker pairs, stable per name
    many = [*names[:6], *(f"plugin-{i}" for i in range(24))]
    got = pipeline_styles(many)
    assert len({(s.rgb, s.marker) for s in got.values()}) == len(many)
    assert pipeline_styles(many[::-1]) == got


def test_rd_curves_have_distinct_pens_and_markers_for_24_pipelines(win) -> None:
    """The live plot draws each of 24 pipelines with its own pen colour (or dash) and
    marker pair, and the matplotlib export uses the same style table."""
    import pyqtgraph as pg

    from app.plotstyle import pipeline_styles

    panel = win.rd_panel
    names = [f"curve-{i:02d}" for i in range(24)]
    row = {"param": "q", "value": 1, "n": 1, "psnr": 30.0, "ms_ssim": 0.9, "haarpsi": 0.8}
    series = {n: [(0.1 * (k + 1), 30.0 + i + k, row) for k in range(3)]
              for i, n in enumerate(names)}
    panel.update_curves(series, [])
    curves = [it for it in panel.plot.listDataItems() if isinstance(it, pg.PlotDataItem)]
    assert len(curves) == 24
    pairs = set()
    for c in curves:
        pen = pg.mkPen(c.opts["pen"])
        pairs.add((pen.color().name(), pen.style(), c.opts["symbol"]))
    assert len(pairs) == 24
    assert panel.legend.names == names
    styles = pipeline_styles(names)
    assert {c.opts["symbol"] for c in curves} == {s.symbol for s in styles.values()}
    win.data_views.refresh_rd()


def test_rd_plot_starts_at_zero_bpp_with_one_point_and_keeps_the_legend_off_the_data(
        win) -> None:
    entry = _add(win, "onept", synthetic(40, 48, 39))
    _set(win, "B", "hevc", qp=38)
    win.data_views.force = True
    win.data_views.refresh()
    win.data_views.force = False
    series = win.session.rd_series(entry.id)
    assert sum(len(v) for v in series.values()) == 1
    (x0, x1), _ = win.rd_panel.plot.getViewBox().viewRange()
    assert x0 >= 0 and x1 > series["hevc"][0][0]
    legend = win.rd_panel.legend
    assert legend.names == ["hevc"]
    assert not win.rd_panel.plot.geometry().intersects(legend.geometry())  # beside the plot
    win.panel_b.set_source("", emit=False)


def test_sweep_over_a_labelled_folder_plots_mean_miou(win, tmp_path) -> None:
    from app.eval import aggregate

    for i in range(2):
        _labelled(tmp_path, f"f{i}.png", 40 + 8 * i, 56)
    n0 = len(win.session.images)
    _drop(win, [tmp_path / "val"])
    _wait(lambda: len(win.session.images) == n0 + 2)
    win.rd_panel.sweep_all.setChecked(True)
    try:
        win.run_sweep([("jpeg", [20, 60])])
        _idle(win)
        _wait(lambda: all(r.task for r in win.session.results.values()
                          if r.pipeline == "jpeg"
                          and win.session.images[r.image_id].task), 60)
    finally:
        win.rd_panel.sweep_all.setChecked(False)
    labelled = [e for e in win.session.images.values() if e.task == "segmentation"]
    points = [p for e in labelled for p in win.session.rd_points(e.id) if p.pipeline == "jpeg"]
    assert len(points) >= 4 and all(p.task for p in points)
    # sweep points keep their scores, not their maps
    assert all(r.analysed is None for r in win.session.results.values()
               if r.pipeline == "jpeg" and r.task)
    # the mean curve is over the labelled images only (other images are open too), with
    # the confusion matrices summed over them as edms eval --task does
    mean = win.session.rd_series_mean("miou")["jpeg"]
    want = aggregate(points)["jpeg"]["results"]
    assert [m[0] for m in mean] == pytest.approx(want["bpp"])
    assert [m[1] for m in mean] == pytest.approx(want["miou"])
    assert all(0 <= m[1] <= 1 for m in mean)

