"""What the window's tests share: fake pipelines (layered, slow, crashing), the module's
window fixture and helpers that drive it as a user would.

Each test module gets one window (and one worker thread, whose start imports torch: the
slow part), shared by its tests; every test leaves the window usable for the next one.
QMessageBox.critical is replaced by a recorder, so error dialogs never block.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from app.codecs import raw  # noqa: E402
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

ROOT = Path(__file__).resolve().parents[1]


SIDES = ("A", "B")


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


def window(tmp_path_factory):  # noqa: ANN001, ANN201 - a generator for the fixture
    """A window with the test pipelines registered and error dialogs recorded (the
    ``win`` fixture of tests/conftest.py: one per test module)."""
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


def _usable(win, name: str) -> bool:  # noqa: ANN001
    """True if ``name`` encodes a small image here (learned ones need their weights)."""
    n = len(win.dialogs)
    win.panel_b.set_source(name, emit=False)
    win.request("B")
    _wait(lambda: len(win.dialogs) > n or (win.shown["B"] is not None
                                           and win.shown["B"].pipeline == name), 120)
    _idle(win)
    return len(win.dialogs) == n


def _caption(canvas) -> str:  # noqa: ANN001
    """A pane's whole caption (the tool tip holds it when the pane is too narrow)."""
    return canvas.caption.toolTip() or canvas.caption.text()


def _statuses(win) -> list[tuple[str, str]]:  # noqa: ANN001
    out: list[tuple[str, str]] = []
    win.worker.job_finished.connect(lambda job, status: out.append((job.pipeline, status)))
    return out


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

