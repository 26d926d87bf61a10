"""The workbench's main window: panes A/B, side panels, RD curves, results, inspector.

The window is a view of an :class:`app.session.Session`; all computation runs in the
:class:`app.gui.worker.Worker` thread. This module never imports torch (a test checks).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.gui.canvas import CompareView
from app.gui.files import SAMPLES, FileActions
from app.gui.inspector import LayerInspector
from app.gui.panels import ORIGINAL, Legend, ResultsTable, SidePanel, fmt_num
from app.gui.rdplot import RDPanel
from app.gui.worker import Job, PipelineInfo, WorkerThread
from app.session import (
    ImageEntry,
    Result,
    Session,
    colorize_segmentation,
    error_map,
    params_label,
)
from app.shipped import shipped_path

DEBOUNCE_MS = 120


def kodak_dir() -> Path | None:
    """``../shared/data/kodak`` next to the repository, when present."""
    d = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kodak"
    return d if d.is_dir() else None


class MainWindow(FileActions, QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        # The worker's Python code and the UI share the interpreter lock; a shorter switch
        # interval (default 5 ms) lets the UI thread take it back sooner.
        sys.setswitchinterval(0.001)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"EDMS Workbench {__version__}")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("edms-workbench", "EDMS Workbench")
        self.session = Session()
        self.catalog: list[PipelineInfo] = []
        self.current_id: int | None = None
        self.shown: dict[str, Result | None] = {"A": None, "B": None}
        self.requested: dict[str, float] = {}  # side -> perf_counter of the user's change
        self.last_latency_s: float | None = None
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.ready = False
        self._pending_edms: dict[int, tuple[str, dict]] = {}
        self._sweep_total = 0
        self._build_ui()
        self._build_menus()
        self._restore_settings()
        # worker
        self.worker_thread = WorkerThread()
        w = self.worker_thread.worker
        self.worker = w
        w.catalog_ready.connect(self._on_catalog)
        w.device_changed.connect(self._on_device)
        w.ready.connect(self._on_ready)
        w.job_started.connect(self._on_job_started)
        w.progress.connect(self._on_progress)
        w.result_ready.connect(self._on_result)
        w.result_updated.connect(self._on_updated)
        w.job_finished.connect(self._on_job_finished)
        w.failed.connect(self._on_failed)
        w.idle.connect(self._on_idle)
        w.pipeline_unavailable.connect(self._on_unavailable)
        dev = self.settings.value("device", "Auto")
        i = self.device_combo.findText(str(dev))
        if i > 0:
            self.device_combo.setCurrentIndex(i)
        self._refresh_all()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        self.compare = CompareView()
        for c in self.compare.canvases():
            c.setAcceptDrops(False)
            c.viewport().setAcceptDrops(False)
        self.compare.pane_a.placeholder = (
            "Drop images or .edms files here\nor use File ▸ Open (Ctrl+O) / Open Sample")
        self.compare.swipe.placeholder = self.compare.pane_a.placeholder
        self.legend = Legend()
        self.legend.hide()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.compare, 1)
        cl.addWidget(self.legend)
        self.setCentralWidget(central)

        self.panel_a = SidePanel("A")
        self.panel_b = SidePanel("B")
        self.panels = {"A": self.panel_a, "B": self.panel_b}
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.dock_a = self._dock("Pane A", "dockA", self.panel_a, left)
        self.dock_b = self._dock("Pane B", "dockB", self.panel_b, right)
        self.rd_panel = RDPanel()
        self.results_table = ResultsTable()
        self.inspector = LayerInspector()
        self.dock_rd = self._dock("RD curves", "dockRD", self.rd_panel,
                                  Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock_results = self._dock("Results", "dockResults", self.results_table,
                                       Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock_inspector = self._dock("Layers", "dockInspector", self.inspector,
                                         Qt.DockWidgetArea.BottomDockWidgetArea)
        self._force_refresh = False
        self.dock_results.visibilityChanged.connect(lambda v: v and self._refresh_data_views())
        self.dock_rd.visibilityChanged.connect(lambda v: v and self._refresh_data_views())
        self.dock_inspector.visibilityChanged.connect(lambda v: v and self._refresh_inspector())
        self.tabifyDockWidget(self.dock_rd, self.dock_results)
        self.tabifyDockWidget(self.dock_results, self.dock_inspector)
        self.dock_rd.raise_()
        # the bottom docks (RD curves, results, layers) span the whole width
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)

        for side, panel in self.panels.items():
            panel.changed.connect(self._on_panel_changed)
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(DEBOUNCE_MS)
            timer.timeout.connect(lambda s=side: self.request(s))
            setattr(self, f"_debounce_{side}", timer)
        self.rd_panel.metric.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.scope_combo.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.anchor.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.sweep_requested.connect(self.run_sweep)
        self.rd_panel.export_requested.connect(self.export_rd)
        self.results_table.activated_result.connect(self._show_result_in_b)
        self.inspector.side.currentIndexChanged.connect(self._refresh_inspector)
        for canvas in self.compare.canvases():
            canvas.hovered.connect(self._show_pixel)
            canvas.view_changed.connect(lambda c=canvas: self._show_zoom(c))
            canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            canvas.customContextMenuRequested.connect(
                lambda pos, c=canvas: self._pane_menu(c, pos))

        # toolbar
        tb = QToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.toolbar = tb
        tb.addWidget(QLabel(" Image "))
        self.image_combo = QComboBox()
        self.image_combo.setObjectName("imageCombo")
        self.image_combo.setMinimumContentsLength(18)
        self.image_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.image_combo.currentIndexChanged.connect(self._on_image_selected)
        tb.addWidget(self.image_combo)
        tb.addSeparator()
        self.swipe_check = QCheckBox("Swipe")
        self.swipe_check.setObjectName("swipeCheck")
        self.swipe_check.setToolTip("Swipe compare: A left, B right of a draggable divider "
                                    "(Ctrl+Shift+W)")
        self.swipe_check.toggled.connect(self.set_swipe)
        tb.addWidget(self.swipe_check)
        self.match_button = QPushButton("Match bitrate")
        self.match_button.setObjectName("matchButton")
        self.match_button.setToolTip("Set B's parameter to the value whose bpp is closest to "
                                     "A's (Ctrl+M)")
        self.match_button.clicked.connect(self.match_bitrate)
        tb.addWidget(self.match_button)
        tb.addSeparator()
        self.overlay_check = QCheckBox("Segmentation")
        self.overlay_check.setObjectName("overlayCheck")
        self.overlay_check.setToolTip("Overlay the segmentation map of the shown result "
                                      "(pipelines that produce one)")
        self.overlay_check.toggled.connect(self._refresh_overlay)
        tb.addWidget(self.overlay_check)
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal)
        self.overlay_opacity.setObjectName("overlayOpacity")
        self.overlay_opacity.setRange(0, 100)
        self.overlay_opacity.setValue(50)
        self.overlay_opacity.setFixedWidth(90)
        self.overlay_opacity.setToolTip("Overlay opacity")
        self.overlay_opacity.valueChanged.connect(
            lambda v: self.compare.set_overlay_opacity(v / 100.0))
        tb.addWidget(self.overlay_opacity)
        self.heat_check = QCheckBox("Error map")
        self.heat_check.setObjectName("heatCheck")
        self.heat_check.setToolTip("Show |original − decoded| as a heat map (×4), Ctrl+Shift+H")
        self.heat_check.toggled.connect(self._refresh_panes)
        tb.addWidget(self.heat_check)
        tb.addSeparator()
        tb.addWidget(QLabel(" Device "))
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.addItems(["Auto", "CUDA", "CPU"])
        self.device_combo.setToolTip("Where the worker runs the networks")
        self.device_combo.currentTextChanged.connect(self._on_device_choice)
        tb.addWidget(self.device_combo)

        # status bar
        sb = self.statusBar()
        sb.setObjectName("statusBar")
        self.stage_label = QLabel("")
        self.stage_label.setObjectName("stageLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setFixedWidth(160)
        self.progress.setMaximumHeight(16)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job at its next stage boundary (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.zoom_label = QLabel("")
        self.zoom_label.setObjectName("zoomLabel")
        self.zoom_label.setToolTip("Zoom (image pixels per screen pixel); Ctrl+0 fit, Ctrl+1 1:1")
        self.pixel_label = QLabel("")
        self.pixel_label.setObjectName("pixelLabel")
        self.pixel_label.setToolTip("Pixel under the mouse: original and the two panes")
        self.latency_label = QLabel("")
        self.latency_label.setObjectName("latencyLabel")
        self.device_label = QLabel("Device: starting…")
        self.device_label.setObjectName("deviceLabel")
        sb.addWidget(self.stage_label, 1)
        sb.addPermanentWidget(self.pixel_label)
        sb.addPermanentWidget(self.zoom_label)
        sb.addPermanentWidget(self.latency_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)
        self.resize(1480, 940)
        self.resizeDocks([self.dock_a, self.dock_b], [250, 250], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock_rd], [330], Qt.Orientation.Vertical)

        self._rd_timer = QTimer(self)
        self._rd_timer.setSingleShot(True)
        self._rd_timer.setInterval(80)
        self._rd_timer.timeout.connect(self._refresh_data_views)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, name: str, slot, shortcut=None,  # noqa: ANN001
                checkable: bool = False) -> QAction:
        act = QAction(text, self)
        act.setObjectName(name)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.action_open = self._action(f, "&Open…", "actionOpen", self.open_dialog,
                                        QKeySequence.StandardKey.Open)
        samples = f.addMenu("Open &Sample")
        samples.setObjectName("menuSamples")
        for key, label in SAMPLES.items():
            self._action(samples, label, f"actionSample_{key}",
                         lambda _=False, k=key: self.open_sample(k))
        kd = kodak_dir()
        if kd is not None:
            samples.addSeparator()
            for p in sorted(kd.glob("kodim*.png"))[:24]:
                self._action(samples, f"Kodak {p.stem}", f"actionKodak_{p.stem}",
                             lambda _=False, q=str(p): self.open_paths([q]))
        self.menu_recent = f.addMenu("Open &Recent")
        self.menu_recent.setObjectName("menuRecent")
        f.addSeparator()
        self.action_export = self._action(f, "&Export .edms…", "actionExportEdms",
                                          self.export_edms, "Ctrl+E")
        self.action_save = self._action(f, "&Save Decoded Image…", "actionSaveDecoded",
                                        self.save_decoded, QKeySequence.StandardKey.Save)
        f.addSeparator()
        self._action(f, "&Next Image", "actionNextImage", lambda: self.next_image(1),
                     "Ctrl+PgDown")
        self._action(f, "&Previous Image", "actionPreviousImage", lambda: self.next_image(-1),
                     "Ctrl+PgUp")
        self.action_close_image = self._action(f, "&Close Image", "actionCloseImage",
                                               self.close_image, QKeySequence.StandardKey.Close)
        self._action(f, "&Quit", "actionQuit", self.close, QKeySequence.StandardKey.Quit)

        v = mb.addMenu("&View")
        self._action(v, "Zoom to &Fit", "actionFit", self.compare.fit, "Ctrl+0")
        self._action(v, "&Actual Pixels (1:1)", "actionOneToOne", self.compare.one_to_one,
                     "Ctrl+1")
        self._action(v, "Zoom &In", "actionZoomIn", lambda: self.compare.zoom_by(1.25),
                     QKeySequence.StandardKey.ZoomIn)
        self._action(v, "Zoom &Out", "actionZoomOut", lambda: self.compare.zoom_by(0.8),
                     QKeySequence.StandardKey.ZoomOut)
        v.addSeparator()
        self.action_swipe = self._action(v, "&Swipe Compare", "actionSwipe",
                                         self.swipe_check.setChecked, "Ctrl+Shift+W", True)
        self.action_overlay = self._action(v, "Segmentation &Overlay", "actionOverlay",
                                           self.overlay_check.setChecked, "Ctrl+Shift+O", True)
        self.action_heat = self._action(v, "Error &Heat Map", "actionHeat",
                                        self.heat_check.setChecked, "Ctrl+Shift+H", True)
        self.swipe_check.toggled.connect(self.action_swipe.setChecked)
        self.overlay_check.toggled.connect(self.action_overlay.setChecked)
        self.heat_check.toggled.connect(self.action_heat.setChecked)
        v.addSeparator()
        for dock in (self.dock_a, self.dock_b, self.dock_rd, self.dock_results,
                     self.dock_inspector):
            v.addAction(dock.toggleViewAction())

        c = mb.addMenu("&Compress")
        self._action(c, "&Match Bitrate (B to A)", "actionMatch", self.match_bitrate, "Ctrl+M")
        self._action(c, "&Re-run Both Panes", "actionRerun", self.rerun, "Ctrl+R")
        self._action(c, "S&wap A and B", "actionSwap", self.swap_panes, "Ctrl+Shift+X")
        self._action(c, "&Sweep Checked Pipelines", "actionSweep",
                     lambda: self.run_sweep(self.rd_panel.sweep_plan()), "Ctrl+Shift+R")
        self._action(c, "&Cancel", "actionCancel", self.cancel, "Esc")
        c.addSeparator()
        dev = c.addMenu("&Device")
        group = QActionGroup(self)
        for name in ("Auto", "CUDA", "CPU"):
            act = self._action(dev, name, f"actionDevice{name}",
                               lambda _=False, n=name: self.device_combo.setCurrentText(n),
                               checkable=True)
            group.addAction(act)
            act.setChecked(name == "Auto")
        self.device_actions = group

        rd = mb.addMenu("&Data")
        self._action(rd, "Export RD &Plot (PNG/PDF/SVG)…", "actionExportPlot",
                     lambda: self.export_rd("plot"))
        self._action(rd, "Export RD Data as &CSV…", "actionExportCsv",
                     lambda: self.export_rd("csv"))
        self._action(rd, "Export RD Data as &JSON (CompressAI)…", "actionExportJson",
                     lambda: self.export_rd("json"))

        h = mb.addMenu("&Help")
        self._action(h, "&About", "actionAbout", self.about)
        self._action(h, "File &Format", "actionFormat", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(shipped_path("docs", "edms-format.md")))))

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geom = s.value("geometry")
        if isinstance(geom, QByteArray | bytes):
            self.restoreGeometry(geom)
        state = s.value("windowState")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
        self._rebuild_recent()
        self.overlay_opacity.setValue(int(s.value("overlayOpacity", 50)))
        self.swipe_check.setChecked(str(s.value("swipe", "false")).lower() == "true")

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("overlayOpacity", self.overlay_opacity.value())
        s.setValue("device", self.device_combo.currentText())
        s.setValue("swipe", self.swipe_check.isChecked())
        for side, panel in self.panels.items():
            s.setValue(f"pane{side}/pipeline", panel.pipeline())
            s.setValue(f"pane{side}/params", json.dumps(panel.params()))
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        self.save_settings()
        self.worker_thread.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker (tests call this; closing the window does it too)."""
        self.worker_thread.shutdown()

    # ------------------------------------------------------------------ dialogs
    def show_error(self, message: str, title: str = "EDMS Workbench") -> None:
        self.errors.append(message)
        self.statusBar().showMessage(message.splitlines()[0], 8000)
        QMessageBox.critical(self, title, message)

    def about(self) -> None:
        QMessageBox.about(
            self, "About EDMS Workbench",
            f"<h3>EDMS Workbench {__version__}</h3><p>Semantic, layered image compression "
            "(DSSLIC, EDMS, SMIC) side by side with classical codecs.</p>"
            f"<p>Pipelines: {', '.join(i.name for i in self.catalog)}</p>")

    # ------------------------------------------------------------------ loading
    def _add_entry(self, entry: ImageEntry) -> None:
        self.image_combo.blockSignals(True)
        label = f"{entry.name}  ({entry.width}×{entry.height})"
        self.image_combo.addItem(label, entry.id)
        self.image_combo.setItemData(self.image_combo.count() - 1, entry.path or entry.name,
                                     Qt.ItemDataRole.ToolTipRole)
        self.image_combo.setCurrentIndex(self.image_combo.count() - 1)
        self.image_combo.blockSignals(False)
        self._select_image(entry.id)

    def close_image(self) -> None:
        if self.current_id is None:
            return
        self.session.remove_image(self.current_id)
        i = self.image_combo.findData(self.current_id)
        self.image_combo.blockSignals(True)
        self.image_combo.removeItem(i)
        self.image_combo.blockSignals(False)
        nxt = self.image_combo.currentData()
        self.current_id = None
        if nxt is not None:
            self._select_image(int(nxt))
        else:
            self.shown = {"A": None, "B": None}
            self._refresh_all()

    def _on_image_selected(self) -> None:
        data = self.image_combo.currentData()
        if data is not None:
            self._select_image(int(data))

    def _select_image(self, image_id: int) -> None:
        self.current_id = image_id
        self.shown = {"A": None, "B": None}
        self._refresh_all()
        self.compare.fit()
        self.request("A")
        self.request("B")

    def current(self) -> ImageEntry | None:
        return self.session.images.get(self.current_id) if self.current_id else None

    # ------------------------------------------------------------------ requests
    def _on_panel_changed(self, side: str) -> None:
        self.requested.setdefault(side, time.perf_counter())
        getattr(self, f"_debounce_{side}").start()

    def request(self, side: str) -> None:
        """Show pane ``side``'s setting: cached result, original, or a worker job."""
        entry = self.current()
        panel = self.panels[side]
        t_req = self.requested.pop(side, time.perf_counter())
        if entry is None:
            return
        name = panel.pipeline()
        if name == ORIGINAL or not self.ready:
            self.shown[side] = None
            self._refresh_side(side)
            return
        info = panel.catalog.get(name)
        if info is not None and info.error:
            self.shown[side] = None
            self._refresh_side(side)
            self._set_caption(side)
            self.statusBar().showMessage(f"{name} is unavailable: {info.error}", 8000)
            return
        params = panel.params()
        cached = self.session.get_result(entry.id, name, params)
        if cached is not None:
            self.shown[side] = cached
            self._refresh_side(side)
            self._note_latency(t_req, cached=True)
            return
        self.worker.submit(Job(kind="encode", image_id=entry.id, image=entry.array,
                               pipeline=name, params=params, side=side, t_request=t_req))
        self._set_caption(side, pending=True)

    def rerun(self) -> None:
        entry = self.current()
        if entry is None:
            return
        for side in ("A", "B"):
            panel = self.panels[side]
            if panel.pipeline() != ORIGINAL:
                key = (entry.id, panel.pipeline(), tuple(sorted(panel.params().items())))
                self.session.results.pop(key, None)
            self.request(side)

    def match_bitrate(self) -> None:
        entry = self.current()
        a = self.shown["A"]
        if entry is None or a is None:
            self.show_error("Match bitrate needs a result in pane A (choose a pipeline for A).")
            return
        name = self.panel_b.pipeline()
        if name == ORIGINAL:
            self.show_error("Match bitrate needs a pipeline in pane B.")
            return
        self.worker.submit(Job(kind="match", image_id=entry.id, image=entry.array,
                               pipeline=name, params=self.panel_b.params(), side="B",
                               target_bpp=a.bpp, t_request=time.perf_counter()))
        self.statusBar().showMessage(f"Matching B ({name}) to {a.bpp:.4f} bpp…", 4000)

    def run_sweep(self, plan: list[tuple[str, list[int]]]) -> None:
        """Queue a sweep of ``plan`` on the current image (or every open image)."""
        entry = self.current()
        if entry is None:
            self.show_error("Open an image before running a sweep.")
            return
        entries = list(self.session.images.values()) if self.rd_panel.sweep_all.isChecked() \
            else [entry]
        info = {i.name: i for i in self.catalog}
        queued = 0
        for e in entries:
            jobs = []
            for name, values in plan:
                if name not in info or not info[name].params or info[name].error:
                    continue
                key = info[name].params[0]["name"]
                # the other parameters (SMIC's sampling factor) stay at the setting a pane
                # shows for this pipeline, else at their defaults: the sweep is a curve
                base = next((pn.params() for pn in (self.panel_b, self.panel_a)
                             if pn.pipeline() == name), {})
                todo = [{**base, key: v} for v in values
                        if self.session.get_result(e.id, name,
                                                   self._full(name, {**base, key: v})) is None]
                if todo:
                    jobs.append((name, todo))
            if jobs:
                self._sweep_total = sum(len(v) for _, v in jobs)
                self.worker.submit(Job(kind="sweep", image_id=e.id, image=e.array, plan=jobs,
                                       name=e.name))
                queued += 1
        if not queued:
            self.statusBar().showMessage("Sweep: every point is already computed", 4000)

    def _full(self, name: str, params: dict[str, int]) -> dict[str, int]:
        info = {i.name: i for i in self.catalog}.get(name)
        out = {p["name"]: p["default"] for p in info.params} if info else {}
        out.update(params)
        return out

    def cancel(self) -> None:
        self.worker.cancel()
        self.stage_label.setText("Cancelling… (takes effect at the next stage boundary)")

    def set_swipe(self, on: bool) -> None:
        state = self.compare.view_state()
        self.compare.set_mode("swipe" if on else "side")
        self._refresh_panes()
        self.compare.restore_view(state)

    def _on_device_choice(self, text: str) -> None:
        if hasattr(self, "worker"):  # the combo is filled before the worker starts
            self.worker.set_device(text.lower())
        for act in self.device_actions.actions() if hasattr(self, "device_actions") else []:
            act.setChecked(act.text() == text)

    # ------------------------------------------------------------------ worker signals
    def _on_catalog(self, infos: list[PipelineInfo]) -> None:
        self.catalog = infos
        for side, panel in self.panels.items():
            panel.set_catalog(infos)
            name = str(self.settings.value(f"pane{side}/pipeline",
                                           ORIGINAL if side == "A" else "hevc"))
            try:
                params = json.loads(str(self.settings.value(f"pane{side}/params", "{}")))
            except ValueError:
                params = {}
            panel.set_source(name, params, emit=False)
        self.rd_panel.set_catalog(infos)

    def _on_unavailable(self, name: str, why: str) -> None:
        for panel in self.panels.values():
            panel.mark_unavailable(name, why)
        for info in self.catalog:
            if info.name == name:
                info.error = why
        self.rd_panel.set_checked({n for n, _ in self.rd_panel.sweep_plan()} - {name})

    def _on_device(self, label: str) -> None:
        self.device_label.setText(f"Device: {label}")

    def _on_ready(self) -> None:
        self.ready = True
        if self.current() is not None:
            self.request("A")
            self.request("B")

    def _on_job_started(self, job: Job) -> None:
        self.cancel_button.setEnabled(True)
        self.progress.show()
        if job.kind == "sweep":
            self.progress.setRange(0, max(sum(len(v) for _, v in job.plan), 1))
            self.progress.setValue(0)
        else:
            self.progress.setRange(0, 0)
        what = {"encode": f"{job.pipeline} {params_label(job.params)}",
                "match": f"matching {job.pipeline} to {job.target_bpp:.4f} bpp",
                "sweep": f"sweep of {job.name or 'image'} "
                         f"({sum(len(v) for _, v in job.plan)} points)",
                "decode": f"decoding {job.name}"}.get(job.kind, job.kind)
        self.stage_label.setText(what)
        self._job_label = what

    def _on_progress(self, job_id: int, stage: str, done: int, total: int) -> None:
        self.stage_label.setText(f"{getattr(self, '_job_label', '')} — {stage}…")
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _on_result(self, job: Job, result: Result) -> None:
        if job.kind == "decode":
            self._on_edms_decoded(job, result)
            return
        if result.image_id not in self.session.images:
            return
        self.session.add_result(result)
        if job.kind in ("encode", "match") and result.image_id == self.current_id:
            panel = self.panels[job.side]
            if job.kind == "match":
                panel.set_params(result.params)
            if panel.pipeline() == result.pipeline and panel.params() == result.params:
                self.shown[job.side] = result
                self._refresh_side(job.side)
                self._note_latency(job.t_request)
        self._rd_timer.start()

    def _note_latency(self, t_request: float, cached: bool = False) -> None:
        if not t_request:
            return
        dt = time.perf_counter() - t_request
        self.last_latency_s = dt
        self.latencies.append(dt)
        self.latency_label.setText(f"change → view {dt * 1000:.0f} ms"
                                   + (" (cached)" if cached else ""))
        self.latency_label.setToolTip("Time from the last parameter change to the updated "
                                      f"view, including the {DEBOUNCE_MS} ms debounce")

    def _on_updated(self, key: tuple, values: dict) -> None:
        """The worker verified a result, measured it, or withdrew it (``invalid``)."""
        r = self.session.results.get(key)
        if r is None:
            return
        if values.get("invalid"):
            del self.session.results[key]
            for side in ("A", "B"):
                if self.shown[side] is r:
                    self.shown[side] = None
                    self._refresh_side(side)
            self._rd_timer.start()
            return
        for name, value in values.items():
            setattr(r, name, value)
        for side in ("A", "B"):
            if self.shown[side] is r:
                self._refresh_numbers(side)
        self._rd_timer.start()

    def _on_edms_decoded(self, job: Job, result: Result) -> None:
        path, header = self._pending_edms.pop(job.id, ("", {}))
        entry = self.session.add_image(Path(path).name or job.name, result.decoded, path,
                                       header=header)
        result.image_id = entry.id
        self.session.add_result(result)
        self._add_entry(entry)
        self.panel_a.set_source(ORIGINAL, emit=False)
        self.panel_b.set_source(result.pipeline, result.params, emit=False)
        self.request("A")
        self.request("B")
        self.statusBar().showMessage(
            f"{Path(path).name}: {header.get('pipeline')} v{header.get('pipeline_version')}, "
            f"{header.get('width')}×{header.get('height')}, "
            f"{params_label(header.get('params', {}))}, {header.get('total_bytes')} bytes "
            f"({header.get('bpp', 0):.4f} bpp)", 10000)

    def _on_job_finished(self, job: Job, status: str) -> None:
        if status != "done":
            for side in ("A", "B"):
                self._set_caption(side)
        if status == "cancelled":
            self.stage_label.setText("Cancelled")
            self.statusBar().showMessage("Cancelled", 4000)
        elif job.kind == "sweep" and status == "done":
            self.statusBar().showMessage("Sweep finished", 4000)

    def _on_failed(self, job: Job, message: str) -> None:
        if job.kind == "decode":
            path, _ = self._pending_edms.pop(job.id, (job.name, {}))
            message = f"{Path(path).name}: {message}"
        elif job.kind in ("encode", "match", "sweep"):
            message = f"{job.pipeline or 'sweep'}: {message}"
        self.show_error(message, "Compression failed" if job.kind != "decode" else
                        "Cannot decode")

    def _on_idle(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        if not self.stage_label.text().startswith("Cancel"):
            self.stage_label.setText("Ready")

    # ------------------------------------------------------------------ refresh
    def _refresh_all(self) -> None:
        self._refresh_panes()
        self._refresh_data_views()

    def _refresh_data_views(self) -> None:
        """Results table and RD curves; hidden ones are redrawn when they are shown."""
        entry = self.current()
        if _on_screen(self.results_table) or self._force_refresh:
            self.results_table.set_results(self.session.results_for(entry.id) if entry else [])
        if _on_screen(self.rd_panel) or self._force_refresh:
            self._refresh_rd()

    def _refresh_rd(self) -> None:
        entry = self.current()
        anchor = self.rd_panel.anchor.currentData() or ""
        if self.rd_panel.scope() == "all":
            self.rd_panel.update_curves(self.session.rd_series_mean(self.rd_panel.metric_key()),
                                        [])
            try:
                self.rd_panel.set_bd(self.session.bd_table_all(anchor), anchor)
            except Exception:  # noqa: BLE001 - too few points etc.: leave the table empty
                self.rd_panel.set_bd({}, anchor)
            return
        if entry is None:
            self.rd_panel.update_curves({}, [])
            self.rd_panel.set_bd({}, "")
            return
        series = self.session.rd_series(entry.id, self.rd_panel.metric_key())
        self.rd_panel.update_curves(series, [r for r in self.shown.values() if r])
        try:
            self.rd_panel.set_bd(self.session.bd_table(entry.id, anchor), anchor)
        except Exception:  # noqa: BLE001 - too few points etc.: leave the table empty
            self.rd_panel.set_bd({}, anchor)

    def _image_for(self, side: str) -> np.ndarray | None:
        entry = self.current()
        if entry is None:
            return None
        r = self.shown[side]
        if self.heat_check.isChecked():
            if r is None or r.from_file:
                return np.zeros_like(entry.array)
            return error_map(entry.array, r.decoded)
        return entry.array if r is None else r.decoded

    def _caption_text(self, side: str, pending: bool = False) -> str:
        entry = self.current()
        if entry is None:
            return ""
        r = self.shown[side]
        panel = self.panels[side]
        info = panel.catalog.get(panel.pipeline())
        if r is None and info is not None and info.error:
            text = f"{side} · {panel.pipeline()} · unavailable (see the status bar)"
        elif panel.pipeline() == ORIGINAL or r is None and not pending:
            what = "decoded .edms" if entry.is_edms else "original"
            text = f"{side} · {what} · {entry.width}×{entry.height}"
        elif r is None:
            text = f"{side} · {panel.pipeline()} · encoding…"
        else:
            text = f"{side} · {r.pipeline} {params_label(r.params)} · {r.bpp:.3f} bpp"
            if not math.isnan(r.psnr):
                text += f" · {fmt_num(r.psnr, 2, 'dB')}"
            if pending:
                text += " · updating…"
        if self.heat_check.isChecked():
            text += " · error ×4"
        return text

    def _set_caption(self, side: str, pending: bool = False) -> None:
        text = self._caption_text(side, pending)
        if self.compare.mode() == "swipe":
            self.compare.swipe.set_captions(self._caption_text("A", pending and side == "A"),
                                            self._caption_text("B", pending and side == "B"))
        else:
            (self.compare.pane_a if side == "A" else self.compare.pane_b).set_caption(text)

    def _refresh_side(self, side: str) -> None:
        if self.compare.mode() == "swipe":
            self.compare.swipe.set_images(self._image_for("A"), self._image_for("B"))
        else:
            pane = self.compare.pane_a if side == "A" else self.compare.pane_b
            pane.set_image(self._image_for(side))
        self._set_caption(side)
        self._refresh_numbers(side)
        self._refresh_overlay()
        if self.inspector.side.currentData() == side and _on_screen(self.inspector):
            self._refresh_inspector()
        self._rd_timer.start()

    def _refresh_panes(self) -> None:
        for side in ("A", "B"):
            self._refresh_side(side)
        if self.current() is None:
            for c in self.compare.canvases():
                c.set_image(None)
                c.set_caption("")
            self.compare.swipe.set_captions("", "")

    def _refresh_numbers(self, side: str) -> None:
        entry = self.current()
        panel = self.panels[side]
        r = self.shown[side]
        if entry is None:
            panel.show_numbers(None, "No image")
        elif r is None:
            if entry.is_edms and entry.header:
                panel.show_numbers(None, _header_text(entry.name, entry.header))
            else:
                panel.show_numbers(None, f"Original: {entry.width}×{entry.height}")
        else:
            note = ""
            if r.from_file:
                note = "Decoded from the opened file (no original to compare with)."
            panel.show_numbers(r, note)

    def _segmentation(self) -> np.ndarray | None:
        for side in ("A", "B"):
            r = self.shown[side]
            if r is not None and "segmentation" in r.views:
                return r.views["segmentation"]
        return None

    def _refresh_overlay(self) -> None:
        seg = self._segmentation()
        entry = self.current()
        ok = seg is not None and entry is not None and seg.shape[:2] == entry.array.shape[:2]
        self.overlay_check.setEnabled(ok or self.overlay_check.isChecked())
        self.overlay_check.setToolTip(
            "Overlay the segmentation map of the shown result" if ok else
            "The shown results carry no segmentation (learned pipelines provide one)")
        on = ok and self.overlay_check.isChecked()
        self.compare.set_overlay(colorize_segmentation(seg) if on else None)
        self.compare.set_overlay_opacity(self.overlay_opacity.value() / 100.0)
        self.legend.setVisible(on)

    def _refresh_inspector(self) -> None:
        entry = self.current()
        side = self.inspector.side.currentData() or "B"
        self.inspector.set_result(entry.array if entry else None, self.shown.get(side))

    def swap_panes(self) -> None:
        """Exchange the settings (and shown results) of panes A and B."""
        a = (self.panel_a.pipeline(), self.panel_a.params(), self.shown["A"])
        b = (self.panel_b.pipeline(), self.panel_b.params(), self.shown["B"])
        self.panel_a.set_source(b[0], b[1], emit=False)
        self.panel_b.set_source(a[0], a[1], emit=False)
        self.shown["A"], self.shown["B"] = b[2], a[2]
        self._refresh_panes()

    def _pane_menu(self, canvas, pos) -> None:  # noqa: ANN001
        from PySide6.QtWidgets import QMenu

        side = "B" if canvas is self.compare.pane_b or (
            canvas is self.compare.swipe
            and canvas.mapToScene(pos).x() > canvas.fraction() * max(
                canvas.image_item.pixmap().width(), 1)) else "A"
        menu = QMenu(self)
        menu.addAction(f"Save pane {side} as shown…", lambda: self._save_pane(side))
        menu.addAction(f"Copy pane {side} to clipboard", lambda: self._copy_pane(side))
        menu.addAction(f"Inspect layers of pane {side}", lambda: self._inspect(side))
        menu.addSeparator()
        menu.addAction("Swap A and B", self.swap_panes)
        menu.addAction("Zoom to fit", self.compare.fit)
        menu.addAction("Actual pixels (1:1)", self.compare.one_to_one)
        menu.exec(canvas.mapToGlobal(pos))

    def _inspect(self, side: str) -> None:
        self.inspector.side.setCurrentIndex(self.inspector.side.findData(side))
        self.dock_inspector.show()
        self.dock_inspector.raise_()
        self._refresh_inspector()

    def _show_zoom(self, canvas) -> None:  # noqa: ANN001
        if canvas.has_image():
            pct = canvas.scale_factor() * canvas.devicePixelRatioF() * 100
            self.zoom_label.setText(f"{pct:.0f} %")

    def next_image(self, step: int = 1) -> None:
        n = self.image_combo.count()
        if n:
            self.image_combo.setCurrentIndex((self.image_combo.currentIndex() + step) % n)

    def _show_pixel(self, x: int, y: int) -> None:
        """Status bar read-out of the pixel under the mouse in the original, A and B."""
        entry = self.current()
        if entry is None or x < 0 or y >= entry.height or x >= entry.width:
            self.pixel_label.setText("")
            return

        def rgb(a: np.ndarray) -> str:
            return "{},{},{}".format(*(int(v) for v in a[y, x]))

        parts = [f"({x}, {y})", f"orig {rgb(entry.array)}"]
        for side in ("A", "B"):
            r = self.shown[side]
            if r is not None and r.decoded.shape == entry.array.shape:
                parts.append(f"{side} {rgb(r.decoded)}")
        self.pixel_label.setText("  ".join(parts))

    def _show_result_in_b(self, result: Result) -> None:
        if result.from_file:
            return
        self.panel_b.set_source(result.pipeline, result.params, emit=False)
        self.shown["B"] = result
        self._refresh_side("B")


def _header_text(name: str, h: dict) -> str:
    """An ``.edms`` header (:func:`app.container.describe`) for the side panel."""
    fp = h.get("model_fingerprint") or "none"
    lines = [
        f"Decoded from {name}",
        f"pipeline {h['pipeline']} v{h['pipeline_version']}, {params_label(h['params'])}",
        f"{h['width']}×{h['height']}, {h['total_bytes']:,} bytes, {h['bpp']:.4f} bpp",
        f"header {h['header_bytes']} B, weights {fp[:16]}",
    ]
    lines += [f"layer {la['index']}: {la['kind']} (codec {la['codec_id']}) {la['bytes']:,} B"
              for la in h.get("layers", [])]
    return "\n".join(lines)


def _on_screen(widget: QWidget) -> bool:
    """Visible and not behind another dock tab (hidden views are refreshed when shown)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def _install_excepthook(window: MainWindow) -> None:
    """An unexpected exception in a slot becomes an error dialog, never a silent failure
    or a crash; the traceback still goes to stderr for bug reports."""
    import traceback

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        traceback.print_exception(kind, value, tb)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        window.show_error(f"Internal error: {kind.__name__}: {value}\n\n"
                          "The workbench keeps running; details are on the console.",
                          "Unexpected error")

    sys.excepthook = hook


def run_app(argv: list[str]) -> int:
    """Create the application and the window, open ``argv``'s files, run the loop."""
    from app.gui.theme import apply_theme

    QApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(argv[:1] or ["edms-workbench"])
    app.setApplicationName("EDMS Workbench")
    app.setOrganizationName("edms-workbench")
    app.setApplicationVersion(__version__)
    apply_theme(app)
    icon = shipped_path("resources", "edms-workbench.svg")
    if icon.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    window = MainWindow()
    _install_excepthook(window)
    window.show()
    files = [a for a in argv[1:] if not a.startswith("-")]
    if files:
        QTimer.singleShot(0, lambda: window.open_paths(files))
    return app.exec()
