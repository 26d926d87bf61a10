"""The workbench window, driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen).

One window (and one worker thread) is shared by the module: starting the worker imports
torch, which is the slow part. Every test leaves the window usable for the next one.
QMessageBox.critical is replaced by a recorder, so error dialogs never block.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QThread, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox  # noqa: E402

from app.codecs import raw  # noqa: E402
from app.imageio import load_image  # noqa: E402
from app.pipelines import registry  # noqa: E402
from app.pipelines.base import (  # noqa: E402
    Encoded,
    Layer,
    LayerKind,
    ParamSpec,
    Pipeline,
    View,
    ViewKind,
)
from tests.badinputs import READABLE, UNREADABLE, make_bad_input_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("A", "B")


# --------------------------------------------------------------------------- a fake layered
# pipeline, so the overlay, the inspector and several ParamSpecs are exercised before the
# learned pipelines exist. It behaves like them: a segmentation and a compact image are
# coded as layers; the views dict carries the intermediate images.


class LayeredFake(Pipeline):
    name = "test-layered"
    description = "test double: segmentation + sub-sampled, quantised compact image"
    params = (
        ParamSpec("qp", "QP", 0, 51, 20, (10, 20, 30), False),
        ParamSpec("s", "Sampling factor", 1, 4, 2, (2,), False),
    )

    def __init__(self) -> None:
        self.progress = None
        self.prepare_calls = 0

    def prepare(self, image: np.ndarray):  # noqa: ANN201
        self.prepare_calls += 1
        if self.progress:
            self.progress("segmentation")
        seg = (image.astype(np.int32).sum(axis=2) * 11 // (3 * 256)).astype(np.uint8)
        return image, seg

    def _rebuild(self, compact: np.ndarray, s: int, h: int, w: int) -> np.ndarray:
        up = np.repeat(np.repeat(compact, s, axis=0), s, axis=1)
        return np.ascontiguousarray(up[:h, :w])

    def encode_prepared(self, prepared, params):  # noqa: ANN001, ANN201
        image, seg = prepared
        s, step = params["s"], params["qp"] // 4 + 1
        if self.progress:
            self.progress("compact image")
        compact = (image[::s, ::s] // step * step).astype(np.uint8)
        h, w = image.shape[:2]
        recon = self._rebuild(compact, s, h, w)
        layers = [Layer(LayerKind.SEMANTIC_MAP, raw().codec_id, raw().encode(seg)),
                  Layer(LayerKind.COMPACT_IMAGE, raw().codec_id, raw().encode(compact))]
        views = {"segmentation": View(ViewKind.SEGMENTATION, seg, overlay=True),
                 "compact": View(ViewKind.IMAGE, compact),
                 "upsampled": View(ViewKind.IMAGE, recon),
                 "residual": View(ViewKind.RESIDUAL, image.astype(np.float32) - recon)}
        return Encoded(self.name, 1, b"", w, h, dict(params), layers, recon, views)

    def decode(self, encoded: Encoded) -> np.ndarray:
        compact = raw().decode(encoded.layers[1].data)
        return self._rebuild(compact, encoded.params["s"], encoded.height, encoded.width)


def _broken() -> Pipeline:
    from app.errors import PipelineError

    raise PipelineError("weights for 'test-broken' not found: train them first")


# like the registry's lazy factories of learned pipelines: the class (and its ParamSpecs)
# is known without loading anything; instantiating it fails when the weights are missing
_broken.pipeline_class = lambda: LayeredFake  # type: ignore[attr-defined]


class SlowFake(LayeredFake):
    """Decodes like a long tiled network pass: checks the caller's stop request between
    "tiles" (:mod:`app.cancel`) until :attr:`release` is set."""

    name = "test-slow"
    description = "test double: a decoder that works tile after tile until released"
    release = threading.Event()
    tiles_seen = 0

    def decode(self, encoded: Encoded) -> np.ndarray:
        from app.cancel import checkpoint

        SlowFake.tiles_seen = 0
        for i in range(6000):  # at most 60 s
            if SlowFake.release.wait(0.01):
                break
            SlowFake.tiles_seen += 1
            checkpoint(i % 50 + 1, 50)
        return super().decode(encoded)


class SlowEncodeFake(LayeredFake):
    """Encodes like a long tiled network pass (a large photo), until :attr:`release`."""

    name = "test-slow-encode"
    description = "test double: an encoder that works tile after tile until released"
    release = threading.Event()
    tiles_seen = 0

    def encode_prepared(self, prepared, params):  # noqa: ANN001, ANN201
        from app.cancel import checkpoint

        SlowEncodeFake.tiles_seen = 0
        for i in range(6000):  # at most 60 s
            if SlowEncodeFake.release.wait(0.01):
                break
            SlowEncodeFake.tiles_seen += 1
            checkpoint(i % 12 + 1, 12)
        return super().encode_prepared(prepared, params)


class CrashFake(LayeredFake):
    """Fails like a shape bug deep in torch."""

    name = "test-crash"
    description = "test double: an internal error"

    def encode_prepared(self, prepared, params):  # noqa: ANN001, ANN201
        raise RuntimeError("The expanded size of the tensor (730) must match the existing "
                           "size (736)")


TEST_PIPELINES = {"test-layered": LayeredFake, "test-slow": SlowFake,
                  "test-slow-encode": SlowEncodeFake, "test-crash": CrashFake}


def synthetic(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus texture: codes like a photo, not like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 255, y / h * 255, (np.sin(x / 9) * np.cos(y / 7) + 1) * 127], 2)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def win(qapp, tmp_path_factory):
    for name, cls in TEST_PIPELINES.items():
        registry.register(name, cls, cls.description)
    registry.register("test-broken", _broken, "test double whose weights are missing")
    mp = pytest.MonkeyPatch()
    dialogs: list[str] = []
    mp.setattr(QMessageBox, "critical", staticmethod(lambda *a, **k: dialogs.append(a[2])))
    from app.gui.main_window import MainWindow

    ini = tmp_path_factory.mktemp("settings") / "workbench.ini"
    w = MainWindow(QSettings(str(ini), QSettings.Format.IniFormat))
    w.dialogs = dialogs
    w.show()
    w.resize(1480, 940)  # the size the tests were written for (the offscreen screen is small)
    _wait(lambda: w.ready, 60)
    yield w
    w.shutdown()
    w.close()
    mp.undo()
    for name in (*TEST_PIPELINES, "test-broken"):
        registry.unregister(name)


def _wait(cond, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        QApplication.processEvents()
        time.sleep(0.005)


def _idle(w) -> None:  # noqa: ANN001
    _wait(lambda: not w.worker.busy and w.worker.pending() == 0 and not w.worker._deferred, 60)
    QApplication.processEvents()
    if w.data_views.timer.isActive():  # the RD plot and table redraw is batched (80 ms)
        w.data_views.timer.stop()
        w.data_views.refresh()


def _add(w, name: str, arr: np.ndarray):  # noqa: ANN001, ANN202
    entry = w.add_array(name, arr)
    _idle(w)
    return entry


def _drop(w, paths: list[Path]) -> None:  # noqa: ANN001
    """Drag files over the window and drop them, as a file manager does."""
    import warnings

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # QPoint overload, still valid
        enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, drop)


def _set(w, side: str, pipeline: str, **params: int):  # noqa: ANN001, ANN202
    """Choose pane ``side``'s pipeline and params; wait until the result is shown."""
    panel = w.panels[side]
    panel.set_source(pipeline, params, emit=False)
    w.request(side)
    if pipeline:
        _wait(lambda: w.shown[side] is not None and w.shown[side].pipeline == pipeline
              and all(w.shown[side].params[k] == v for k, v in params.items()), 60)
    _idle(w)
    return w.shown[side]


# --------------------------------------------------------------------------- tests


def test_gui_modules_do_not_import_torch() -> None:
    code = ("import sys; import app.gui.main_window, app.gui.main, app.gui.files, "
            "app.gui.screenshots, app.gui.actions, app.gui.statusbar, app.session, "
            "app.workbench; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


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
    assert set(win.panel_b.rows) == {"qp"}
    # a parameter whose values have names (a tuning) is a combo box of the names
    from app.gui.panels import ParamRow

    row = ParamRow("B", {"name": "tune", "label": "Tuning", "minimum": 0, "maximum": 1,
                         "default": 1, "sweep": [], "higher_is_better": True, "values": [],
                         "choices": ["psnr", "visual"]})
    assert [row.spin.itemText(i) for i in range(row.spin.count())] == ["psnr", "visual"]
    assert row.value() == 1 and row.spin.currentText() == "visual"
    row.set_value(0)
    assert row.value() == 0 and row.spin.currentText() == "psnr"
    # a long parameter label wraps instead of being cut
    win.panel_b.set_source("deepsic-pre", emit=False)
    label = win.panel_b.findChild(type(win.panel_b.description), "paramLabelB_rate")
    assert label is not None and label.wordWrap() and "1/8, 1/4, 1/2, all" in label.text()
    win.panel_b.set_source("hevc", emit=False)


def test_drop_folder_opens_its_images(win, tmp_path) -> None:
    from PIL import Image

    for i in range(2):
        Image.fromarray(synthetic(16, 24, 20 + i)).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    n = win.image_combo.count()
    win.panel_b.set_source("", emit=False)
    _drop(win, [tmp_path])
    _wait(lambda: win.image_combo.count() == n + 2)
    # listed at once, the first shown (and decoded), the others decoded when shown
    assert win.current().name == "f0.png" and not win.current().pending
    f1 = win.session.find_path(str(tmp_path / "f1.png"))
    assert f1 is not None and f1.pending and f1.array.size == 0
    assert win.image_combo.itemText(win.image_combo.findData(f1.id)) == "f1.png"
    win.next_image(1)
    assert win.current() is f1 and not f1.pending and f1.array.shape == (16, 24, 3)
    assert "16" in win.image_combo.itemText(win.image_combo.findData(f1.id))
    # the same folder (or file) again adds nothing
    _drop(win, [tmp_path])
    _drop(win, [tmp_path / "f0.png"])
    QApplication.processEvents()
    assert win.image_combo.count() == n + 2
    assert win.current().name == "f0.png"


def test_drop_opens_images(win, tmp_path) -> None:
    arrays = [synthetic(48, 64, 1), synthetic(40, 56, 2)]
    paths = []
    for i, a in enumerate(arrays):
        p = tmp_path / f"dropped{i}.png"
        from PIL import Image

        Image.fromarray(a).save(p)
        paths.append(p)
    n = win.image_combo.count()
    win.panel_b.set_source("", emit=False)
    _drop(win, paths)
    _wait(lambda: win.image_combo.count() == n + 2)
    entry = win.current()
    assert entry.name == "dropped1.png"
    np.testing.assert_array_equal(entry.array, arrays[1])
    assert win.compare.pane_a.image_item.pixmap().width() == 56
    assert str(paths[1]) in win.recent_files()


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


def test_export_edms_and_decoded_then_reopen_identical(win, tmp_path, monkeypatch) -> None:
    _add(win, "export", synthetic(72, 88, 7))
    result = _set(win, "B", "hevc", qp=33)
    target = tmp_path / "out.edms"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(target))
    win.export_edms()
    assert target.read_bytes() == result.edms
    png = tmp_path / "decoded.png"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(png))
    win.save_decoded()
    np.testing.assert_array_equal(load_image(png).array, result.decoded)
    n = win.image_combo.count()
    win.open_paths([str(target)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    entry = win.current()
    assert entry.is_edms and entry.header["pipeline"] == "hevc"
    np.testing.assert_array_equal(entry.array, result.decoded)
    shown = win.compare.pane_a.image_item.pixmap().toImage()
    c = shown.pixelColor(5, 7)
    assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in result.decoded[7, 5])
    # RD exports
    for what, suffix in (("csv", ".csv"), ("plot", ".svg")):
        out = tmp_path / f"rd{suffix}"
        monkeypatch.setattr(win.files, "ask_save_path", lambda *a, o=out: str(o))
        win.current_id = result.image_id
        win.export_rd(what)
        assert out.stat().st_size > 0
    assert "hevc" in (tmp_path / "rd.csv").read_text()
    # JSON: one CompressAI results file per pipeline, into a folder
    monkeypatch.setattr(win.files, "ask_folder", lambda *a: str(tmp_path / "caj"))
    win.export_rd("json")
    doc = json.loads((tmp_path / "caj" / "hevc.json").read_text())
    assert set(doc) == {"name", "description", "results"} and doc["name"] == "hevc"
    assert result.bpp in doc["results"]["bpp"]
    assert len({len(v) for v in doc["results"].values()}) == 1
    # files already there are replaced only when the user says so
    asked: list[str] = []
    for answer, expected in ((QMessageBox.StandardButton.No, "old"),
                             (QMessageBox.StandardButton.Yes, None)):
        (tmp_path / "caj" / "hevc.json").write_text("old")
        monkeypatch.setattr(QMessageBox, "question",
                            staticmethod(lambda *a, r=answer: asked.append(a[2]) or r))
        win.export_rd("json")
        text = (tmp_path / "caj" / "hevc.json").read_text()
        assert "hevc.json" in asked[-1]
        assert text == expected if expected else json.loads(text)["name"] == "hevc"


def test_an_opened_menet_file_is_verified_and_shows_what_it_carries(win, tmp_path) -> None:
    """An .edms file whose decoder runs networks is decoded as the CLI decodes it: checked
    against its reconstruction hash, with the class map its bitstream carries as the
    overlay and the inspector's view. A wrong hash is a dialog, never a wrong image."""
    import dataclasses

    from app import api
    from app.container import from_bytes, to_bytes

    image = synthetic(40, 56, 35)
    enc, data = api.encode(image, "menet", {"quality": 2})
    good = tmp_path / "menet.edms"
    good.write_bytes(data)
    n, dialogs = win.image_combo.count(), len(win.dialogs)
    win.open_paths([str(good)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    b = win.shown["B"]
    assert len(win.dialogs) == dialogs, win.dialogs[dialogs:]
    assert b is not None and b.from_file and b.pipeline == "menet"
    np.testing.assert_array_equal(b.decoded, enc.reconstruction)
    np.testing.assert_array_equal(b.views["segmentation"].array,
                                  enc.views["segmentation"].array)
    assert "segmentation" in b.carried
    assert [la.kind for la in b.layers] == ["side info", "image latent", "semantic latent",
                                            "check"]
    # the inspector lists what the file carries; no "original" nor error map (it has none)
    win.inspector.set_result(win.current().array, b)
    names = win.inspector.names()
    assert "segmentation" in names and "decoded" in names
    assert "original" not in names and not any(n.startswith("error map") for n in names)
    assert "layer 2: semantic latent" in win.model.note("A")
    # the same file with another reconstruction hash
    parsed = from_bytes(data)
    layers = [dataclasses.replace(la, data=bytes(len(la.data))) if la.kind == LayerKind.CHECK
              else la for la in parsed.layers]
    bad = tmp_path / "menet-bad-hash.edms"
    bad.write_bytes(to_bytes(dataclasses.replace(parsed, layers=layers)))
    win.open_paths([str(bad)])
    _wait(lambda: len(win.dialogs) > dialogs, 60)
    _idle(win)
    assert "decoded differently from the encoder" in win.dialogs[-1]


def test_bad_inputs_give_dialogs_never_crash(win, tmp_path) -> None:
    matrix = make_bad_input_matrix(tmp_path)
    win.panel_b.set_source("hevc", {"qp": 40}, emit=False)
    for name, path in matrix.items():
        before_dialogs, before_images = len(win.dialogs), win.image_combo.count()
        win.open_paths([str(path)])
        _idle(win)
        if name in UNREADABLE:
            assert len(win.dialogs) == before_dialogs + 1, name
            assert path.name in win.dialogs[-1]
            assert win.image_combo.count() == before_images
        else:
            assert name in READABLE
            assert win.image_combo.count() == before_images + 1, (name, win.dialogs[-1:])
            # and it compresses (1x1 and 7x13 included) without an error
            _wait(lambda: win.shown["B"] is not None, 60)
            _idle(win)
            assert len(win.dialogs) == before_dialogs, (name, win.dialogs[-1:])
    # corrupt .edms: refused while parsing, before the worker
    bad = tmp_path / "broken.edms"
    bad.write_bytes(b"EDMS\x01\x05garbage")
    n = len(win.dialogs)
    win.open_paths([str(bad)])
    assert len(win.dialogs) == n + 1 and "broken.edms" in win.dialogs[-1]
    # valid container naming an unknown pipeline: the worker's error becomes a dialog
    from app.container import to_bytes

    enc = Encoded("no-such-pipeline", 1, b"", 4, 4, {"qp": 1},
                  [Layer(LayerKind.IMAGE, raw().codec_id, raw().encode(synthetic(4, 4)))])
    alien = tmp_path / "alien.edms"
    alien.write_bytes(to_bytes(enc))
    win.open_paths([str(alien)])
    _wait(lambda: len(win.dialogs) == n + 2)
    assert "no-such-pipeline" in win.dialogs[-1]
    # a bad file dropped on the window
    _drop(win, [matrix["truncated_png"]])
    _wait(lambda: len(win.dialogs) == n + 3)


def test_cancel_stops_a_sweep(win) -> None:
    win.panel_b.set_source("", emit=False)
    entry = _add(win, "cancel", synthetic(256, 384, 8))
    statuses = []
    win.worker.job_finished.connect(lambda job, status: statuses.append((job.kind, status)))

    def first_point(job, _result) -> None:  # noqa: ANN001
        if job.kind == "sweep" and win.cancel_button.isEnabled():
            win.cancel_button.click()

    win.worker.result_ready.connect(first_point)
    values = list(range(5, 52, 2))
    win.run_sweep([("hevc", values)])
    _wait(lambda: ("sweep", "cancelled") in statuses or ("sweep", "done") in statuses, 120)
    _idle(win)
    win.worker.result_ready.disconnect(first_point)
    assert ("sweep", "cancelled") in statuses
    assert 1 <= len(win.session.results_for(entry.id, "hevc")) < len(values)
    assert win.stage_label.text().startswith("Cancel")


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


def test_open_sample_recent_menu_and_tooltips(win) -> None:
    n = win.image_combo.count()
    win.findChild(type(win.action_open), "actionSample_chelsea").trigger()
    _idle(win)
    assert win.image_combo.count() == n + 1 and win.current().width == 451
    assert win.menu_recent.actions()  # at least "(none)" or the files opened before
    entry = win.current()
    _set(win, "B", "jpeg", q=50)
    _idle(win)
    tip = win.rd_panel.scatter_items["jpeg"].opts["tip"]
    text = tip(x=0, y=0, data=win.rd_panel.scatter_items["jpeg"].data["data"][0])
    assert "jpeg" in text and "bpp" in text and "PSNR" in text
    assert win.session.results_for(entry.id, "jpeg")


def test_main_entry_point_help() -> None:
    out = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "edms-workbench" in out


def test_settings_persist(win) -> None:
    win.panel_b.set_source("jpeg", {"q": 42}, emit=False)
    win.save_settings()
    s = win.settings
    assert s.value("paneB/pipeline") == "jpeg"
    assert '"q": 42' in s.value("paneB/params")
    assert s.value("geometry") is not None


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


def test_first_window_fits_the_available_screen_and_views_refit(win, tmp_path) -> None:
    """With fresh settings the window opens inside the screen's available geometry (the
    offscreen screen is small), and a fitted view fits again after a resize."""
    from app.gui.main_window import MainWindow

    fresh = MainWindow(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    try:
        fresh.show()
        QApplication.processEvents()
        avail = fresh.screen().availableGeometry()
        assert avail.contains(fresh.geometry()), (avail, fresh.geometry())
        assert fresh.width() <= avail.width() and fresh.height() <= avail.height()
    finally:
        fresh.shutdown()
        fresh.close()
        fresh.deleteLater()
    _add(win, "refit", synthetic(120, 160, 12))
    win.compare.fit()
    before = win.compare.pane_a.scale_factor()
    size = win.size()
    try:
        win.resize(size.width() + 300, size.height() + 200)
        QApplication.processEvents()
        assert win.compare.pane_a.scale_factor() > before  # refitted, no Ctrl+0 needed
        win.compare.pane_a.set_scale(3.0)  # the user's zoom is kept on a resize
        win.resize(size)
        QApplication.processEvents()
        assert math.isclose(win.compare.pane_a.scale_factor(), 3.0)
    finally:
        win.resize(size)
        win.compare.fit()


def _usable(win, name: str) -> bool:  # noqa: ANN001
    """True if ``name`` encodes a small image here (learned ones need their weights)."""
    n = len(win.dialogs)
    win.panel_b.set_source(name, emit=False)
    win.request("B")
    _wait(lambda: len(win.dialogs) > n or (win.shown["B"] is not None
                                           and win.shown["B"].pipeline == name), 120)
    _idle(win)
    return len(win.dialogs) == n


def test_ui_stays_responsive_while_encoding(win) -> None:
    """The heaviest usable pipeline (``edms`` preferred) codes a Kodak-size image on the
    worker thread, never on the UI thread, and the UI's event loop keeps running meanwhile
    (a 10 ms heartbeat keeps beating). How late the beats are is a speed figure, printed
    but not asserted (speed belongs in benchmarks)."""
    import threading

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


def test_every_registered_pipeline_has_its_own_style():
    from app.gui.rdplot import pipeline_style
    from app.pipelines import registry
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


# --------------------------------------------------------------------------- issue 11


def _caption(canvas) -> str:  # noqa: ANN001
    """A pane's whole caption (the tool tip holds it when the pane is too narrow)."""
    return canvas.caption.toolTip() or canvas.caption.text()


def _statuses(win) -> list[tuple[str, str]]:  # noqa: ANN001
    out: list[tuple[str, str]] = []
    win.worker.job_finished.connect(lambda job, status: out.append((job.pipeline, status)))
    return out


def test_esc_with_nothing_running_leaves_no_cancelling(win) -> None:
    _idle(win)
    win.status.idle()
    win.cancel()
    QApplication.processEvents()
    assert win.stage_label.text() == "Ready"
    assert "Cancelling" not in win.stage_label.text()


def test_cancel_stops_a_running_pass_between_tiles_and_nothing_restarts(win) -> None:
    """Cancel lands inside a long decoder pass (between its tiles, not at a stage
    boundary), the result is marked stopped, the deferred work of the other pane is
    dropped, and no job goes on by itself."""
    win.panel_b.set_source("", emit=False)
    _add(win, "slow", synthetic(40, 48, 31))
    SlowFake.release.clear()
    statuses = _statuses(win)
    updates: list[dict] = []
    win.worker.result_updated.connect(lambda key, values: updates.append(values))
    progress: list[tuple[str, int, int]] = []
    win.worker.progress.connect(lambda _id, stage, done, total: progress.append(
        (stage, done, total)))
    win.panel_a.set_source("hevc", {"qp": 40}, emit=False)
    win.panel_b.set_source("test-slow", {"qp": 20, "s": 2}, emit=False)
    win.request("A")  # finishes first; its verification is deferred behind B
    win.request("B")
    try:
        _wait(lambda: SlowFake.tiles_seen > 3, 60)  # B is inside its decoder's pass
        _wait(lambda: any(t == 50 for _, _, t in progress), 30)  # tiles are reported
        assert "of 50" in win.stage_label.text() and "%" in win.stage_label.text()
        win.cancel()
        assert win.stage_label.text().startswith("Cancelling")
        _wait(lambda: ("test-slow", "cancelled") in statuses, 30)
        _idle(win)
    finally:
        SlowFake.release.set()
    b = win.shown["B"]
    assert b is not None and b.stopped and not b.verified and not b.metrics_done
    a = win.session.get_result(win.current_id, "hevc", {"qp": 40})
    assert a is not None and a.stopped and not a.metrics_done  # deferred work dropped
    assert win.panels["B"].value_labels["ms_ssim"].text() == "stopped"
    win.results_table.set_results(win.session.results_for(win.current_id))
    rows = {win.results_table.item(i, 0).text(): [win.results_table.item(i, j).text()
                                                  for j in (5, 6)]
            for i in range(win.results_table.rowCount())}
    assert rows["hevc"] == ["—", "—"] and rows["test-slow"] == ["—", "—"]  # not "…"
    assert win.stage_label.text() == "Cancelled"
    n = len(updates)
    for _ in range(20):  # nothing goes on by itself
        QApplication.processEvents()
        time.sleep(0.01)
    assert len(updates) == n and not win.worker.busy
    assert not any(v.get("metrics_done") for v in updates if v)
    # asking for it again encodes it again
    win.request("B")
    _wait(lambda: win.shown["B"] is not None and win.shown["B"].metrics_done, 60)
    _idle(win)
    assert win.shown["B"] is not b and win.shown["B"].verified
    for side in SIDES:
        win.panels[side].set_source("", emit=False)
        win.request(side)


def test_a_superseded_job_stops_at_once_and_is_never_shown_under_another_name(win) -> None:
    """Choosing another pipeline (or setting, or image) for a pane while its job runs
    stops that job at once; the pane never shows the old pipeline's result under the new
    name, and the controls follow what is shown after a cancel."""
    win.panel_a.set_source("", emit=False)
    win.request("A")
    _add(win, "supersede", synthetic(40, 48, 41))
    SlowEncodeFake.release.clear()
    statuses = _statuses(win)
    wrong: list[str] = []

    def check() -> bool:  # what the pane shows always matches its pipeline
        pane = win.model.panes["B"]
        if pane.shown is not None and pane.shown.pipeline != pane.pipeline:
            wrong.append(f"{pane.shown.pipeline} under {pane.pipeline}")
        caption = win.compare.pane_b.caption.toolTip() or _caption(win.compare.pane_b)
        if pane.pipeline and pane.pipeline not in caption:
            wrong.append(f"caption {caption!r} under {pane.pipeline}")
        return True

    try:
        _set(win, "B", "hevc", qp=40)
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 20, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and SlowEncodeFake.tiles_seen > 3, 60)
        assert win.shown["B"] is None  # hevc's result is not shown as test-slow-encode's
        t0 = time.monotonic()
        win.panel_b.set_source("test-layered", {"qp": 20, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and ("test-slow-encode", "superseded") in statuses, 10)
        assert time.monotonic() - t0 < 3  # stopped after its running tile, not at its end
        _wait(lambda: check() and win.shown["B"] is not None
              and win.shown["B"].pipeline == "test-layered", 60)
        _idle(win)
        check()
        assert "test-layered" in _caption(win.compare.pane_b)
        assert ("test-slow-encode", "cancelled") not in statuses  # not the user's cancel
        assert win.stage_label.text() != "Cancelled"
        # a cancel while another setting is encoding: the controls show what is shown
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 30, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: check() and SlowEncodeFake.tiles_seen > 3, 60)
        win.cancel()
        _wait(lambda: ("test-slow-encode", "cancelled") in statuses, 10)
        _idle(win)
        # test-layered is shown again, and the controls say so
        assert win.panel_b.pipeline() == "test-layered"
        assert win.shown["B"] is not None and win.shown["B"].pipeline == "test-layered"
        assert "test-layered" in _caption(win.compare.pane_b)
        SlowEncodeFake.tiles_seen = 0
        win.panel_b.set_source("test-slow-encode", {"qp": 44, "s": 2}, emit=False)
        win.request("B")
        _wait(lambda: SlowEncodeFake.tiles_seen > 3, 60)
        win.cancel()
        _idle(win)
        assert win.panel_b.pipeline() == "test-layered"  # back to what is shown
        assert win.panel_b.params()["qp"] == 20
    finally:
        SlowEncodeFake.release.set()
    assert not wrong, wrong[:3]
    win.panel_b.set_source("", emit=False)
    win.request("B")


def test_closing_an_image_cancels_and_frees_its_work(win) -> None:
    win.panel_b.set_source("", emit=False)
    entry = _add(win, "closing", synthetic(40, 48, 32))
    SlowFake.release.clear()
    statuses = _statuses(win)
    win.panel_b.set_source("test-slow", {"qp": 24, "s": 2}, emit=False)
    win.request("B")
    try:
        _wait(lambda: SlowFake.tiles_seen > 3, 60)
        assert any(k[0] == entry.id for k in win.worker._prepared)
        win.panel_b.set_source("", emit=False)  # the next image shown asks for nothing
        win.close_image()
        _wait(lambda: ("test-slow", "cancelled") in statuses, 30)
        _idle(win)
    finally:
        SlowFake.release.set()
    assert entry.id not in win.session.images
    assert not any(k[0] == entry.id for k in win.worker._prepared)
    assert not any(r.image_id == entry.id for r in win.session.results.values())
    win.panel_b.set_source("", emit=False)


def test_an_internal_error_is_one_sentence_and_the_pane_says_it_failed(win) -> None:
    _add(win, "crash", synthetic(40, 48, 33))
    n = len(win.dialogs)
    win.panel_b.set_source("test-crash", {"qp": 20, "s": 2}, emit=False)
    win.request("B")
    _wait(lambda: len(win.dialogs) > n, 60)
    _idle(win)
    text = win.dialogs[-1]
    assert "Internal error" in text and "EDMS_DEBUG=1" in text and "report" in text
    assert "expanded size" not in text and "RuntimeError" not in text
    caption = win.compare.pane_b.caption.toolTip() or win.compare.pane_b.caption.text()
    assert "original" not in caption and "test-crash" in caption and "failed" in caption
    assert win.shown["B"] is None
    win.panel_b.set_source("", emit=False)
    win.request("B")


def test_an_opened_edms_is_the_result(win, tmp_path, monkeypatch) -> None:
    _add(win, "edmsfile", synthetic(56, 72, 34))
    result = _set(win, "B", "test-layered", qp=20, s=2)
    target = tmp_path / "file.edms"
    monkeypatch.setattr(win.files, "ask_save_path", lambda *a: str(target))
    win.export_edms()
    n = win.image_combo.count()
    win.open_paths([str(target)])
    _wait(lambda: win.image_combo.count() == n + 1, 60)
    _idle(win)
    entry = win.current()
    b = win.shown["B"]
    assert entry.is_edms and b is not None and b.from_file and b.image_id == entry.id
    assert b.file_bytes == len(result.edms) and math.isnan(b.psnr)
    assert win.panels["B"].value_labels["psnr"].text() == "—"
    # the results table says "—" for what a file has no original for, never "…"
    win.results_table.set_results(win.session.results_for(entry.id))
    cells = [win.results_table.item(0, j).text() for j in (4, 5, 6)]
    assert cells == ["—", "—", "—"], cells
    # the file's setting is fixed: the parameter controls are disabled, saying why
    assert not win.panel_b.params_box.isEnabled()
    assert "decoded .edms" in win.panel_b.params_box.toolTip()
    # another setting is not encoded from the decoded image
    jobs = []
    win.worker.job_started.connect(jobs.append)
    win.panel_b.set_params({"qp": 30})
    win.request("B")
    _idle(win)
    assert not [j for j in jobs if j.kind == "encode"]
    assert win.shown["B"] is None and "no original" in win.status.currentMessage()
    assert win.session.rd_series(entry.id) == {} and win.session.rd_points(entry.id) == []
    # both panes name the layers' codecs the same way
    note_a = win.model.note("A")
    assert "(raw)" in note_a and all(la.codec == "raw" for la in b.layers)
    # the same file again adds no entry
    win.open_paths([str(target)])
    _idle(win)
    assert win.image_combo.count() == n + 1
    win.next_image(-1)  # an image with an original: the controls are enabled again
    _idle(win)
    assert not win.current().is_edms and win.panel_b.params_box.isEnabled()
    win.panel_b.set_source("", emit=False)


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


def test_export_and_save_name_the_pane_and_use_the_last_save_folder(win, tmp_path,
                                                                   monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    _add(win, "namepane", synthetic(40, 48, 36))
    _set(win, "B", "hevc", qp=40)
    win.settings.setValue("lastFolder", "/dataset/images")
    win.settings.setValue("lastSaveFolder", str(tmp_path))
    asked: list[tuple[str, str]] = []

    def fake(parent, title, start, filters):  # noqa: ANN001, ANN202
        asked.append((title, start))
        return str(tmp_path / "sub" / "x.edms"), ""

    (tmp_path / "sub").mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    win.export_edms()
    assert "pane B" in asked[-1][0] and "hevc qp=40" in asked[-1][0]
    assert Path(asked[-1][1]).parent == tmp_path
    win.save_decoded()
    assert "pane B" in asked[-1][0]
    assert Path(asked[-1][1]).parent == tmp_path / "sub"  # the last folder saved to
    # the menu names the pane (and result) Export and Save take: the active one
    assert "Pane B (hevc qp=40)" in win.action_export.text()
    assert "Pane B (hevc qp=40)" in win.action_save.text()
    win.panel_a.set_source("jpeg", {"q": 30})  # the user works with pane A now
    _wait(lambda: win.shown["A"] is not None and win.shown["A"].pipeline == "jpeg", 60)
    _idle(win)
    assert "Pane A (jpeg q=30)" in win.action_export.text()
    win.action_export.trigger()
    assert "pane A" in asked[-1][0] and "jpeg q=30" in asked[-1][0]
    # after the dialog the window has the keyboard again (Ctrl+E works at once)
    QApplication.processEvents()
    assert QApplication.activeWindow() is win
    win.panel_a.set_source("", emit=False)
    win.request("A")
    assert "Pane B (hevc qp=40)" in win.action_export.text()  # A shows no result now
    win.panel_b.set_source("", emit=False)


def test_help_shows_the_format_spec_shortcuts_and_documentation_links(win) -> None:
    from app.gui.docs import DocViewer, ShortcutList

    win.open_format_spec()
    viewer = win.prompts.doc_viewer
    assert isinstance(viewer, DocViewer) and viewer.isVisible()
    assert ".edms" in viewer.browser.toPlainText() and viewer.path.name == "edms-format.md"
    viewer.close()
    win.show_shortcuts()
    table = win.prompts.shortcut_list.table
    rows = {(table.item(i, 1).text(), table.item(i, 2).text()) for i in range(table.rowCount())}
    assert ("Cancel", "Esc") in rows and ("Open", "Ctrl+O") in rows
    assert isinstance(win.prompts.shortcut_list, ShortcutList)
    win.prompts.shortcut_list.close()
    win.about()
    box = win.prompts.about_box
    assert "docs/edms-format.md" in box.text() and "README.md" in box.text()
    box.close()
    win.show_doc("no/such.md")
    assert "not part of this installation" in win.prompts.doc_viewer.browser.toPlainText()
    win.prompts.doc_viewer.close()


def test_over_the_pixel_limit_points_to_the_setting(win, tmp_path, monkeypatch) -> None:
    from PIL import Image

    path = tmp_path / "big.png"
    Image.fromarray(synthetic(1100, 1000, 37)).save(path)
    win.settings.setValue("maxPixels", 1_000_000)
    try:
        n = len(win.dialogs)
        win.open_paths([str(path)])
        _wait(lambda: len(win.dialogs) > n)
        assert "Settings ▸ Maximum Image Size" in win.dialogs[-1]
        monkeypatch.setattr(QInputDialog, "getInt", staticmethod(lambda *a, **k: (2, True)))
        win.ask_max_pixels()
        assert win.max_pixels() == 2_000_000
        win.open_paths([str(path)])
        _idle(win)
        assert win.current().name == "big.png"
    finally:
        win.settings.remove("maxPixels")
    win.close_image()


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


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_no_text_is_cut_off_at_laptop_sizes(win, size) -> None:  # noqa: ANN001
    from app.gui.layoutcheck import clipped_texts

    old = win.size()
    win.resize(*size)
    try:
        _add(win, "a-rather-long-photo-name-from-a-camera-0001.png", synthetic(80, 120, 41))
        win.panel_a.set_source("test-layered", {"qp": 20, "s": 2}, emit=False)
        win.request("A")
        _set(win, "B", "hevc", qp=37)
        win.status.set_latency(1.234, False, 120)
        win.pixel_label.setText(win.model.pixel_text(79, 119) or "(119, 79)  orig 255,255,255")
        win.status.job_started("smic factor=8, qp=37", 0)
        win.status.stage("synthesis", 5, 12)
        for _ in range(5):
            QApplication.processEvents()
        assert clipped_texts(win) == []
        win.dock_inspector.raise_()
        win.pane_views.refresh_inspector()
        QApplication.processEvents()
        assert clipped_texts(win) == []
        # captions keep their dB value in a narrow pane
        win.compare.pane_b.resize(260, 200)
        win.pane_views.set_caption("B")
        assert "dB" in win.compare.pane_b.caption.text()
    finally:
        win.status.idle()
        win.dock_rd.raise_()
        win.panel_a.set_source("", emit=False)
        win.request("A")
        win.panel_b.set_source("", emit=False)
        win.resize(old)


def test_panel_numbers_scroll_in_a_low_window(win) -> None:
    old = win.size()
    win.resize(1280, 640)
    try:
        _add(win, "low", synthetic(40, 48, 42))
        _set(win, "B", "test-layered", qp=20, s=2)
        QApplication.processEvents()
        area = win.dock_b.widget()
        assert area.widget() is win.panel_b
        if win.panel_b.sizeHint().height() > area.viewport().height():
            assert area.verticalScrollBar().maximum() > 0
        # every number can be scrolled into view
        label = win.panel_b.value_labels["decode"]
        area.ensureWidgetVisible(label)
        QApplication.processEvents()
        assert not label.visibleRegion().isEmpty()
    finally:
        win.panel_b.set_source("", emit=False)
        win.resize(old)


# --------------------------------------------------------------------------- rate-accuracy


def _labelled(tmp_path: Path, name: str = "frame.png", h: int = 72, w: int = 96):
    """A CamVid-layout pair (``val/NAME`` + ``valannot/NAME``): an image and a label map
    of four class blocks with a void strip."""
    from PIL import Image

    img = synthetic(h, w, 31)
    lab = np.zeros((h, w), np.uint8)
    lab[:, w // 2:] = 1
    lab[h // 2:, : w // 2] = 2
    lab[h // 2:, w // 2:] = 8
    lab[:4] = 11  # void
    for folder, arr in (("val", img), ("valannot", lab)):
        (tmp_path / folder).mkdir(exist_ok=True)
        Image.fromarray(arr).save(tmp_path / folder / name)
    return tmp_path / "val" / name, img, lab


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


def test_label_map_chosen_by_hand_and_class_folders(win, tmp_path) -> None:
    from PIL import Image

    img = synthetic(48, 64, 5)
    entry = _add(win, "unlabelled", img)
    _set(win, "B", "jpeg", q=50)
    assert entry.task == "" and win.panel_b.accuracy_label.text() == ""
    bad = tmp_path / "small.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(bad)
    n = len(win.dialogs)
    assert not win.set_label_map(str(bad))
    assert len(win.dialogs) == n + 1
    assert win.dialogs[-1] == "small.png: label map is 8x8, the image 64x48"
    good = tmp_path / "gt.png"
    Image.fromarray(np.full((48, 64), 5, np.uint8)).save(good)
    assert win.set_label_map(str(good))
    r = win.shown["B"]
    _wait(lambda: r.analysed is not None and entry.reference is not None, 60)
    QApplication.processEvents()
    assert "mIoU of SegNet on the decoded image: " in win.panel_b.accuracy_label.text()
    # an image in a folder named after an Imagenette class: top-1
    cls = tmp_path / "n03028079"
    cls.mkdir()
    Image.fromarray(img).save(cls / "church.png")
    _drop(win, [cls / "church.png"])
    _wait(lambda: win.current().name == "church.png")
    c = win.current()
    assert (c.task, c.truth) == ("classification", 4)
    r = _set(win, "B", "jpeg", q=50)
    _wait(lambda: r.analysed is not None and c.reference is not None, 60)
    QApplication.processEvents()
    assert "Classifier on the decoded image: top-1 " in win.panel_b.accuracy_label.text()
    assert win.rd_panel.metric_combo.findData("top1") >= 0
    # a classification set opened as a folder (one folder per class) lists every image
    root = tmp_path / "set"
    for wnid in ("n01440764", "n03888257"):
        (root / wnid).mkdir(parents=True)
        for j in range(2):
            Image.fromarray(synthetic(32, 40, j)).save(root / wnid / f"{wnid}_{j}.png")
    n = len(win.session.images)
    _drop(win, [root])
    _wait(lambda: len(win.session.images) == n + 4)
    listed = list(win.session.images.values())[-4:]
    for e in listed:  # decoded when shown; the class comes from the folder name
        win.files.select_image(e.id)
        QApplication.processEvents()
    assert [(e.task, e.truth) for e in listed] == [("classification", 0)] * 2 + \
        [("classification", 9)] * 2
