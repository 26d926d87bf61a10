"""The window's panes: the catalogue and parameter rows, results on the worker, debouncing,
Match bitrate, swipe and zoom, devices, the inspector, the error map, overlays and per-
pane accuracy.

Driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen); the window, its fakes
and helpers are in :mod:`tests.guikit`.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QPointF, Qt, QThread, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.pipelines import registry  # noqa: E402
from tests.guikit import (  # noqa: E402
    _add,
    _drop,
    _idle,
    _labelled,
    _set,
    _usable,
    _wait,
    synthetic,
)


def test_catalog_lists_every_registered_pipeline(win) -> None:
    names = [win.panel_b.source.itemData(i) for i in range(win.panel_b.source.count())]
    assert names[0] == ""  # Original
    assert set(registry.available()) <= set(names[1:])
    assert win.device_label.toolTip().startswith("Device: ")


def test_generic_param_specs_build_one_row_each(win) -> None:
    win.panel_b.set_source("test-layered", emit=False)
    assert set(win.panel_b.rows) == {"qp", "s"}
    spin = win.findChild(type(win.panel_b.rows["s"].spin), "paramB_s")
    assert spin is not None and (spin.minimum(), spin.maximum(), spin.value()) == (1, 4, 2)
    win.panel_b.rows["qp"].slider.setValue(33)  # slider drives the spin box
    assert win.panel_b.rows["qp"].spin.value() == 33
    win.panel_b.set_source("hevc", emit=False)
    assert set(win.panel_b.rows) == {"qp", "tune"}  # one row per parameter, the setting too
    # a parameter whose values have names (a tuning) is a combo box of the names
    from app.gui.panels import ParamRow

    row = ParamRow("B", {"name": "tune", "label": "Tuning", "minimum": 0, "maximum": 1,
                         "default": 1, "sweep": [], "higher_is_better": True, "values": [],
                         "choices": ["psnr", "visual"]})
    assert [row.spin.itemText(i) for i in range(row.spin.count())] == ["psnr", "visual"]
    assert row.value() == 1 and row.spin.currentText() == "visual"
    row.set_value(0)
    assert row.value() == 0 and row.spin.currentText() == "psnr"
    # a numeric setting that is not a rate knob (hevc-pf's filter views): a combo box of
    # its values alone, no slider, and its tooltip says so
    win.panel_b.set_source("hevc-pf", emit=False)
    assert set(win.panel_b.rows) == {"qp", "views"}
    views = win.panel_b.rows["views"]
    assert [views.spin.itemText(i) for i in range(views.spin.count())] == ["1", "2", "4"]
    assert views.value() == 4 and views.slider.isHidden()
    assert "not a rate knob" in views.spin.toolTip()
    assert not win.panel_b.rows["qp"].slider.isHidden()
    # a long parameter label wraps instead of being cut
    win.panel_b.set_source("deepsic-bp-pre", emit=False)
    label = win.panel_b.findChild(type(win.panel_b.description), "paramLabelB_rate")
    assert label is not None and label.wordWrap() and "1/8, 1/4, 1/2, all" in label.text()
    win.panel_b.set_source("hevc", emit=False)


def test_compress_on_worker_shows_result_and_rd_point(win) -> None:
    img = synthetic(96, 128, 3)
    # both panes on the original when the image opens, so the only point is the one below
    for side in ("A", "B"):
        win.panels[side].set_source("", {}, emit=False)
    entry = _add(win, "worker", img)
    seen_threads = []
    win.worker.result_ready.connect(lambda *_: seen_threads.append(QThread.currentThread()),
                                    Qt.ConnectionType.DirectConnection)
    result = _set(win, "B", "hevc", qp=37)
    assert seen_threads and all(t is not QApplication.instance().thread()
                                for t in seen_threads)
    assert result.image_id == entry.id and result.decoded.shape == img.shape
    pix = win.compare.pane_b.image_item.pixmap().toImage()
    assert (pix.width(), pix.height()) == (128, 96)
    c = pix.pixelColor(10, 20)
    assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in result.decoded[20, 10])
    assert result.metrics_done and 0 < result.ms_ssim <= 1 and 0 < result.haarpsi <= 1
    assert math.isclose(result.bpp, 8 * len(result.edms) / (128 * 96))
    assert win.findChild(type(win.panel_b.value_labels["bpp"]), "valueB_bpp").text() == \
        f"{result.bpp:.4f}"
    series = win.session.rd_series(entry.id, "psnr")
    assert [p[2] for p in series["hevc"]] == [result]
    assert "hevc" in win.rd_panel.scatter_items
    assert "1 point" in win.rd_panel.points_label.text()


def test_param_change_reuses_prepared_analysis(win) -> None:
    _add(win, "layered", synthetic(64, 80, 4))
    fake = registry.get("test-layered")
    before = fake.prepare_calls
    stages: list[str] = []
    win.worker.progress.connect(lambda _id, stage, *_: stages.append(stage))
    r1 = _set(win, "B", "test-layered", qp=8, s=2)
    r2 = _set(win, "B", "test-layered", qp=40, s=2)
    assert fake.prepare_calls == before + 1
    # the pipeline's own progress callback reaches the status bar's signal
    assert {"segmentation", "compact image", "coding", "decoding", "metrics"} <= set(stages)
    assert fake.progress is None  # reset after each call
    assert r2.prepare_cached and not r1.prepare_cached
    assert [lay.kind for lay in r2.layers] == ["semantic map", "compact image"]
    # overlay from views["segmentation"], legend, inspector with every view
    win.overlay_check.setChecked(True)
    assert win.legend.isVisible()
    assert not win.compare.pane_b.overlay_item.pixmap().isNull()
    win.overlay_opacity.setValue(30)
    assert math.isclose(win.compare.pane_b.overlay_item.opacity(), 0.3)
    win.overlay_check.setChecked(False)
    win.dock_inspector.raise_()  # hidden tabs are refreshed when shown
    _wait(lambda: bool(win.inspector.names()))
    names = win.inspector.names()
    for view in ("original", "segmentation", "compact", "upsampled", "residual", "decoded"):
        assert view in names
    assert any(n.startswith("error map") for n in names)
    assert win.inspector.layers.rowCount() == 4  # 2 layers, header, total
    win.dock_rd.raise_()


def test_rapid_changes_are_debounced_and_coalesced(win) -> None:
    """Dragging the QP slider: one encode per pause, never a backlog; last value wins."""
    _add(win, "drag", synthetic(96, 128, 12))
    _set(win, "B", "hevc", qp=30)
    jobs: list[int] = []
    win.worker.job_started.connect(lambda job: jobs.append(job.params.get("qp", -1)))
    slider = win.panel_b.rows["qp"].slider
    for qp in range(31, 41):  # ten steps, faster than the debounce interval
        slider.setValue(qp)
        QApplication.processEvents()
    _wait(lambda: win.shown["B"].params["qp"] == 40, 60)
    _idle(win)
    assert jobs and jobs[-1] == 40 and len(jobs) <= 3, jobs
    assert win.panel_b.rows["qp"].spin.value() == 40
    assert win.last_latency_s is not None and win.last_latency_s > 0


def test_match_bitrate(win) -> None:
    from app import api
    from app.compare import pick

    image = synthetic(64, 96, 6)
    _add(win, "match", image)
    a = _set(win, "A", "hevc", qp=30)
    _set(win, "B", "jpeg", q=10)
    win.match_bitrate()
    _wait(lambda: win.shown["B"] is not None and win.shown["B"].params["q"] != 10, 60)
    _idle(win)
    b = win.shown["B"]
    assert win.panel_b.params()["q"] == b.params["q"]
    # no other value is closer to A's bpp among the ones probed nearby
    assert abs(b.bpp - a.bpp) / a.bpp < 0.35
    # the one rule: edms compare picks the same setting for the same target
    assert b.params == api.closest_setting("jpeg", image, a.bpp).encoded.params
    assert b.params == pick(image, "jpeg", a.bpp).params
    _set(win, "A", "")


def test_unavailable_pipeline_is_marked_once(win) -> None:
    _add(win, "broken", synthetic(32, 32, 13))
    n = len(win.dialogs)
    win.panel_b.set_source("test-broken", emit=False)
    win.request("B")
    _wait(lambda: len(win.dialogs) == n + 1)
    assert "weights for 'test-broken' not found" in win.dialogs[-1]
    _idle(win)
    i = win.panel_b.source.findData("test-broken")
    assert "unavailable" in win.panel_b.source.itemText(i)
    assert "unavailable" in win.compare.pane_b.caption.text()
    win.request("B")  # asking again explains in the status bar, no second dialog
    _idle(win)
    assert len(win.dialogs) == n + 1
    assert "test-broken" not in [name for name, _ in win.rd_panel.sweep_plan()]
    win.panel_b.set_source("hevc", emit=False)


def test_zoom_sync_and_swipe(win) -> None:
    _add(win, "zoom", synthetic(120, 160, 9))
    _set(win, "B", "jpeg", q=30)
    win.compare.pane_a.set_scale(2.0)
    assert math.isclose(win.compare.pane_b.scale_factor(), 2.0)
    assert win.zoom_label.text() == f"Zoom {200 * win.devicePixelRatioF():.0f} %"
    win.compare.pane_a.centerOn(QPointF(40, 30))
    ca, cb = win.compare.pane_a.center_scene(), win.compare.pane_b.center_scene()
    assert abs(ca.x() - cb.x()) < 1.5 and abs(ca.y() - cb.y()) < 1.5
    win.swipe_check.setChecked(True)
    assert win.compare.mode() == "swipe"
    assert math.isclose(win.compare.swipe.scale_factor(), 2.0)
    dpr = win.devicePixelRatioF()
    assert win.zoom_label.text() == f"Zoom {200 * dpr:.0f} %"
    win.compare.fit()  # the label tells the swipe canvas's zoom, not a hidden pane's
    assert win.zoom_label.text() == \
        f"Zoom {win.compare.swipe.scale_factor() * dpr * 100:.0f} %"
    assert not win.compare.swipe.b_item.pixmap().isNull()
    win.compare.swipe.set_fraction(0.25)
    assert win.compare.swipe.fraction() == 0.25
    win.swipe_check.setChecked(False)
    win.compare.fit()
    a_before, b_before = win.shown["A"], win.shown["B"]
    win.swap_panes()
    assert (win.shown["A"], win.shown["B"]) == (b_before, a_before)
    assert win.panel_a.pipeline() == "jpeg"
    win.swap_panes()
    assert win.panel_b.pipeline() == "jpeg"
    win.compare.pane_b.hovered.emit(3, 4)  # status bar pixel read-out
    assert win.pixel_label.text().startswith("(3, 4)") and " B " in win.pixel_label.text()
    win.compare.pane_b.hovered.emit(-1, -1)
    assert win.pixel_label.text() == ""
    win.heat_check.setChecked(True)
    assert "error" in win.compare.pane_b.caption.text()
    win.heat_check.setChecked(False)
    before = win.current_id
    win.next_image(1)
    assert win.current_id != before
    win.next_image(-1)
    assert win.current_id == before


def test_ui_stays_responsive_while_encoding(win) -> None:
    """The heaviest usable pipeline (``edms`` preferred) codes a Kodak-size image on the
    worker thread, never on the UI thread, and the UI's event loop keeps running meanwhile
    (a 10 ms heartbeat keeps beating). How late the beats are is a speed figure, printed
    but not asserted (speed belongs in benchmarks)."""

    from app.pipelines import registry

    names = [i.name for i in win.catalog if not i.error]
    _add(win, "probe", synthetic(48, 64, 11))
    heavy = next(n for n in ("edms", "smic", "dsslic", "hevc") if n in names and _usable(win, n))
    win.panel_b.set_source("", emit=False)
    _add(win, "kodak-size", synthetic(512, 768, 10))
    pipe = registry.get(heavy)
    real = pipe.encode_prepared
    threads: list[int] = []

    def on_which_thread(*a, **k):  # noqa: ANN002, ANN003, ANN202
        threads.append(threading.get_ident())
        return real(*a, **k)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    pipe.encode_prepared = on_which_thread  # type: ignore[method-assign]
    timer.start()
    last[0] = time.perf_counter()
    try:
        panel = win.panel_b
        panel.set_source(heavy, emit=False)
        key = panel.catalog[heavy].params[0]["name"]
        panel.rows[key].slider.setValue(panel.rows[key].value() + 3)  # like a user drag
        _wait(lambda: win.shown["B"] is not None and win.shown["B"].pipeline == heavy
              and win.shown["B"].params[key] == panel.params()[key], 120)
        _idle(win)
    finally:
        timer.stop()
        del pipe.encode_prepared
    assert win.shown["B"].metrics_done and win.shown["B"].verified
    assert threads and threading.main_thread().ident not in threads
    assert len(gaps) > 10
    print(f"\n{heavy}: worst UI heartbeat delay {(max(gaps[1:]) - 0.010) * 1000:.0f} ms "
          f"over {len(gaps)} beats")


def test_device_selector_offers_what_torch_sees(win) -> None:
    import torch  # the test asks torch; the window itself never imports it

    expected = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    combo = win.device_combo
    assert [combo.itemData(i) for i in range(combo.count())] == expected
    assert combo.isEnabled() == (len(expected) > 1)
    assert [a.text() for a in win.device_actions.actions()] == \
        [combo.itemText(i) for i in range(combo.count())]
    assert combo.currentData() == "cpu" and win.model.device == "cpu"
    assert win.device_label.toolTip().startswith("Device: CPU")
    # a result made on the CPU carries no device note in its pane
    _add(win, "device", synthetic(40, 56, 9))
    r = _set(win, "B", "hevc", qp=35)
    assert r.device == "cpu" and "CUDA" not in win.model.note("B")


def test_match_bitrate_says_when_the_target_is_out_of_reach(win) -> None:
    from app.gui.worker import Job

    entry = _add(win, "reach", synthetic(48, 64, 35))
    notices: list[str] = []
    win.worker.notice.connect(lambda job, text: notices.append(text))
    win.panel_b.set_source("jpeg", {"q": 50}, emit=False)
    # the pane's controls are its setting: the model follows them, no copying back
    assert (win.model.panes["B"].pipeline, win.model.panes["B"].params) == ("jpeg", {"q": 50})
    win.worker.submit(Job(kind="match", image_id=entry.id, image=entry.array, pipeline="jpeg",
                          params={"q": 50}, side="B", target_bpp=80.0))
    _wait(lambda: bool(notices), 60)
    _idle(win)
    assert notices[-1].startswith("jpeg cannot reach 80.0000 bpp")
    assert "jpeg cannot reach" in win.model.note("B")
    win.panel_b.set_source("", emit=False)


def test_inspector_names_layers_for_people(win) -> None:
    from app.workbench import layer_label

    _add(win, "names", synthetic(40, 48, 38))
    r = _set(win, "B", "test-layered", qp=20, s=2)
    r.views["segmentation_before_smapnet"] = r.views["segmentation"]
    win.pane_views.inspect("B")
    texts = [win.inspector.list.item(i).text() for i in range(win.inspector.list.count())]
    assert "segmentation before SMapNet" in texts
    assert "segmentation_before_smapnet" in win.inspector.names()
    assert layer_label("error map ×4") == "error map ×4"
    del r.views["segmentation_before_smapnet"]
    win.dock_rd.raise_()
    win.panel_b.set_source("", emit=False)


def test_error_map_has_a_colour_scale(win) -> None:
    _add(win, "scale", synthetic(40, 48, 40))
    r = _set(win, "B", "hevc", qp=45)
    win.heat_check.setChecked(True)
    try:
        QApplication.processEvents()
        assert win.error_scale.isVisible()
        peak = int(np.abs(win.current().array.astype(int) - r.decoded.astype(int)).max())
        assert win.error_scale.peak == peak and str(peak) in win.error_scale.peak_label.text()
    finally:
        win.heat_check.setChecked(False)
    assert not win.error_scale.isVisible()
    win.panel_b.set_source("", emit=False)


def test_labelled_image_shows_per_image_miou_in_each_pane(win, tmp_path) -> None:
    from app.tasks import SegmentationScore

    path, _img, lab = _labelled(tmp_path)
    _set(win, "A", "")
    _drop(win, [path])
    _wait(lambda: win.current() is not None and win.current().path == str(path))
    entry = win.current()
    assert entry.task == "segmentation" and entry.truth_source == "frame.png"
    np.testing.assert_array_equal(entry.truth, lab)
    # pane A shows the original: SegNet's mIoU on it, the ceiling
    _wait(lambda: entry.reference is not None, 60)
    QApplication.processEvents()
    sc = SegmentationScore()
    sc.update(entry.reference, lab)
    ceiling = sc.result()["miou"]
    text_a = win.panel_a.accuracy_label.text()
    assert win.panel_a.accuracy_label.isVisibleTo(win.panel_a)
    assert f"mIoU of SegNet on the original: {ceiling:.3f}" in text_a, text_a
    # pane B: SegNet on the decoded image, and the map the file carries
    r = _set(win, "B", "test-layered", qp=30, s=2)
    _wait(lambda: r.analysed is not None and r.task, 60)
    QApplication.processEvents()
    sc = SegmentationScore()
    sc.update(r.analysed, lab)
    want = sc.result()["miou"]
    text_b = win.findChild(type(win.panel_b.accuracy_label), "accuracyB").text()
    assert f"mIoU of SegNet on the decoded image: {want:.3f}" in text_b, text_b
    sc = SegmentationScore()
    sc.update(r.carried["segmentation"], lab)
    assert f"mIoU of the map the file carries: {sc.result()['miou']:.3f}" in text_b
    # the RD plot offers mIoU now, and plots it
    combo = win.rd_panel.metric_combo
    assert combo.findData("miou") >= 0 and combo.findData("miou_carried") >= 0
    assert combo.findData("top1") < 0  # no class folder is open
    combo.setCurrentIndex(combo.findData("miou"))
    win.data_views.refresh_rd()
    series = win.session.rd_series(entry.id, "miou")
    assert series["test-layered"][0][1] == pytest.approx(want)
    assert "test-layered" in win.rd_panel.scatter_items
    assert win.rd_panel.bd_table.horizontalHeaderItem(1).text() == "BD-rate (mIoU)"
    combo.setCurrentIndex(combo.findData("psnr"))
    # the overlay shows the errors of each pane's segmentation against the ground truth
    win.overlay_mode.setCurrentIndex(win.overlay_mode.findData("analysed"))
    win.overlay_check.setChecked(True)
    QApplication.processEvents()
    for canvas, pred in ((win.compare.pane_a, entry.reference),
                         (win.compare.pane_b, r.analysed)):
        over = canvas.overlay_item.pixmap().toImage()
        assert (over.width(), over.height()) == (96, 72)
        wrong = np.argwhere((pred != lab) & (lab < 11))
        right = np.argwhere((pred == lab) | (lab == 11))
        if len(wrong):
            y, x = wrong[0]
            assert over.pixelColor(int(x), int(y)).alpha() == 255
        y, x = right[0]
        assert over.pixelColor(int(x), int(y)).alpha() == 0
    win.overlay_mode.setCurrentIndex(win.overlay_mode.findData("carried"))
    QApplication.processEvents()
    assert win.compare.pane_a.overlay_item.pixmap().isNull()  # the original carries none
    assert "carries no segmentation" in win.compare.pane_a.note.text()
    assert not win.compare.pane_b.overlay_item.pixmap().isNull()
    assert not win.compare.pane_b.note.isVisibleTo(win.compare.pane_b)
    sc = SegmentationScore()
    sc.update(r.carried["segmentation"], lab)
    caption = win.compare.pane_b.caption.toolTip() or win.compare.pane_b.caption.text()
    assert f"carried mIoU {sc.result()['miou']:.3f}" in caption.replace("\n", " · ")
    win.overlay_check.setChecked(False)
    win.overlay_mode.setCurrentIndex(0)


def test_each_pane_overlays_its_own_map_or_says_why_not(win) -> None:
    _add(win, "ownmap", synthetic(48, 64, 42))
    a = _set(win, "A", "test-layered", qp=8, s=2)
    _set(win, "B", "hevc", qp=40)
    win.overlay_mode.setCurrentIndex(win.overlay_mode.findData("classes"))
    win.overlay_check.setChecked(True)
    try:
        QApplication.processEvents()
        pa, pb = win.compare.pane_a, win.compare.pane_b
        assert not pa.overlay_item.pixmap().isNull()  # A's own map
        assert pb.overlay_item.pixmap().isNull()  # never A's map drawn over B
        assert "hevc carries no segmentation map" in pb.note.text()
        assert pb.note.isVisibleTo(pb) and not pa.note.isVisibleTo(pa)
        from app.session import colorize_segmentation

        want = colorize_segmentation(a.views["segmentation"].array)
        got = pa.overlay_item.pixmap().toImage().pixelColor(5, 5)
        assert (got.red(), got.green(), got.blue()) == tuple(int(v) for v in want[5, 5, :3])
        _set(win, "A", "")  # the original: no map, and the pane says so
        assert pa.overlay_item.pixmap().isNull()
        assert "the original carries no segmentation map" in pa.note.text()
        # the error modes need ground truth: the panes say so (never classes silently)
        win.overlay_mode.setCurrentIndex(win.overlay_mode.findData("carried"))
        QApplication.processEvents()
        assert win.overlay_mode.currentData() == "carried"
        for canvas in (pa, pb):
            assert canvas.overlay_item.pixmap().isNull()
            assert "no ground-truth label map" in canvas.note.text()
    finally:
        win.overlay_check.setChecked(False)
        win.overlay_mode.setCurrentIndex(0)
    assert not win.compare.pane_b.note.isVisibleTo(win.compare.pane_b)
    _set(win, "B", "")

