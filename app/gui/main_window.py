"""The workbench's main window: panes A/B, side panels, RD curves, results, inspector.

The window binds widgets to a Qt-free :class:`app.workbench.Workbench` (images, panes,
results, request and sweep planning), napari-style: this module only builds widgets,
forwards user actions to the model and to the :class:`app.gui.worker.Worker` thread, and
draws what the model says. Menu actions and shortcuts are a table
(:mod:`app.gui.actions`); the status bar is its own widget (:mod:`app.gui.statusbar`).
This module never imports torch (a test checks).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFrame,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.gui.actions import build_menus, shortcut_rows
from app.gui.canvas import CompareView
from app.gui.files import SAMPLES, FileActions
from app.gui.inspector import LayerInspector
from app.gui.nonefix import protect_none
from app.gui.panels import ErrorScale, Legend, ResultsTable, SidePanel
from app.gui.rdplot import RDPanel
from app.gui.statusbar import StatusBar
from app.gui.windowfit import PREFERRED, bottom_dock_height, compact, first_geometry
from app.gui.worker import Job, PipelineInfo, WorkerThread
from app.session import ImageEntry, Result, Session, colorize_segmentation, params_label
from app.shipped import shipped_path
from app.workbench import ORIGINAL, SIDES, EncodeRequest, Workbench, internal_error_text

DEBOUNCE_MS = 120
DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA"}


class MainWindow(FileActions, QMainWindow):
    """Widgets bound to a :class:`Workbench` (``self.model``) and a worker thread."""

    # set by name: the menu table (app.gui.actions.build_menus) and _build_ui's timers
    action_open: QAction
    action_save: QAction
    action_export: QAction
    action_close_image: QAction
    action_swipe: QAction
    action_overlay: QAction
    action_heat: QAction
    menu_samples: QMenu
    menu_docks: QMenu
    menu_device: QMenu
    _debounce_A: QTimer
    _debounce_B: QTimer

    def __init__(self, settings: QSettings | None = None) -> None:
        protect_none()  # PySide6 6.12 on Python 3.11 drops references to None
        super().__init__()
        # The worker's Python code and the UI share the interpreter lock; a shorter switch
        # interval (default 5 ms) lets the UI thread take it back sooner.
        sys.setswitchinterval(0.001)
        self.setObjectName("mainWindow")
        self.setWindowTitle(f"EDMS Workbench {__version__}")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("edms-workbench", "EDMS Workbench")
        self.model = Workbench()
        self.requested: dict[str, float] = {}  # side -> perf_counter of the user's change
        self.last_latency_s: float | None = None
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._pending_edms: dict[int, tuple[str, dict]] = {}
        self._job_label = ""
        self._reference_asked: set[int] = set()  # images whose ceiling was asked for
        self._build_ui()
        self._build_menus()
        self._restore_settings()
        # worker
        self.worker_thread = WorkerThread()
        w = self.worker_thread.worker
        self.worker = w
        w.catalog_ready.connect(self._on_catalog)
        w.devices_ready.connect(self._on_devices)
        w.device_changed.connect(self.status.set_device)
        w.ready.connect(self._on_ready)
        w.job_started.connect(self._on_job_started)
        w.progress.connect(self._on_progress)
        w.result_ready.connect(self._on_result)
        w.result_updated.connect(self._on_updated)
        w.job_finished.connect(self._on_job_finished)
        w.failed.connect(self._on_failed)
        w.notice.connect(self._on_notice)
        w.idle.connect(self.status.idle)
        w.pipeline_unavailable.connect(self._on_unavailable)
        w.reference_ready.connect(self._on_reference)
        self.model.on_close = w.forget_image  # closing an image cancels and frees its work
        self._refresh_all()

    # ------------------------------------------------------------------ model access
    @property
    def session(self) -> Session:
        return self.model.session

    @property
    def shown(self) -> dict[str, Result | None]:
        return self.model.shown

    @property
    def current_id(self) -> int | None:
        return self.model.current_id

    @current_id.setter
    def current_id(self, image_id: int | None) -> None:
        self.model.current_id = image_id

    @property
    def catalog(self) -> list[PipelineInfo]:
        return list(self.model.catalog.values())

    @property
    def ready(self) -> bool:
        return self.model.ready

    def current(self) -> ImageEntry | None:
        return self.model.current()

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
        self.error_scale = ErrorScale()
        self.error_scale.hide()
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.compare, 1)
        cl.addWidget(self.error_scale)
        cl.addWidget(self.legend)
        self.setCentralWidget(central)

        self.panel_a = SidePanel("A")
        self.panel_b = SidePanel("B")
        self.panels = {"A": self.panel_a, "B": self.panel_b}
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        # the panels scroll when the window is too low for their numbers (640 px)
        self.dock_a = self._dock("Pane A", "dockA", _scrolled(self.panel_a), left)
        self.dock_b = self._dock("Pane B", "dockB", _scrolled(self.panel_b), right)
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
        self.dock_results.visibilityChanged.connect(
            lambda v: self._refresh_data_views() if v else None)
        self.dock_rd.visibilityChanged.connect(
            lambda v: self._refresh_data_views() if v else None)
        self.dock_inspector.visibilityChanged.connect(
            lambda v: self._refresh_inspector() if v else None)
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
        self.rd_panel.metric_combo.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.scope_combo.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.anchor.currentIndexChanged.connect(self._refresh_rd)
        self.rd_panel.sweep_requested.connect(self.run_sweep)
        self.rd_panel.export_requested.connect(self.export_rd)
        self.rd_panel.references_changed.connect(self._refresh_rd)
        self.results_table.activated_result.connect(self._show_result_in_b)
        self.inspector.side.currentIndexChanged.connect(self._refresh_inspector)
        for canvas in self.compare.canvases():
            canvas.hovered.connect(self._show_pixel)
            canvas.view_changed.connect(lambda c=canvas: self._show_zoom(c))
            canvas.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            canvas.customContextMenuRequested.connect(
                lambda pos, c=canvas: self._pane_menu(c, pos))

        self._build_toolbar()
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.status.cancel_button.clicked.connect(self.cancel)
        # the status bar's widgets, by the names the window had before it was split out
        self.stage_label = self.status.stage_label
        self.progress = self.status.progress
        self.cancel_button = self.status.cancel_button
        self.zoom_label = self.status.zoom_label
        self.pixel_label = self.status.pixel_label
        self.latency_label = self.status.latency_label
        self.device_label = self.status.device_label
        self.resize(*PREFERRED)
        self.resizeDocks([self.dock_a, self.dock_b], [260, 260], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock_rd], [330], Qt.Orientation.Vertical)
        self._compact: bool | None = None  # the layout applied (None: none yet)

        self._rd_timer = QTimer(self)
        self._rd_timer.setSingleShot(True)
        self._rd_timer.setInterval(80)
        self._rd_timer.timeout.connect(self._refresh_data_views)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.toolbar = tb
        tb.addWidget(QLabel(" Image "))
        self.image_combo = QComboBox()
        self.image_combo.setObjectName("imageCombo")
        self.image_combo.setMinimumContentsLength(26)  # "name.png  (4000×3000)"
        self.image_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.image_combo.currentIndexChanged.connect(self._on_image_selected)
        tb.addWidget(self.image_combo)
        tb.addSeparator()
        self.swipe_check = _check("Swipe", "swipeCheck", "Swipe compare: A left, B right of "
                                  "a draggable divider (Ctrl+Shift+W)")
        self.swipe_check.toggled.connect(self.set_swipe)
        tb.addWidget(self.swipe_check)
        self.match_button = QPushButton("Match bitrate")
        self.match_button.setObjectName("matchButton")
        self.match_button.setToolTip("Set B to the setting whose bpp is closest to A's, as "
                                     "edms compare picks it (Ctrl+M)")
        self.match_button.clicked.connect(self.match_bitrate)
        tb.addWidget(self.match_button)
        tb.addSeparator()
        self.overlay_check = _check("Segmentation", "overlayCheck", "Overlay the "
                                    "segmentation map of the shown result (pipelines that "
                                    "produce one)")
        self.overlay_check.toggled.connect(self._refresh_overlay_and_captions)
        tb.addWidget(self.overlay_check)
        self.overlay_mode = QComboBox()
        self.overlay_mode.setObjectName("overlayMode")
        self.overlay_mode.addItem("classes", "classes")
        self.overlay_mode.addItem("errors of SegNet", "analysed")
        self.overlay_mode.addItem("errors of carried map", "carried")
        self.overlay_mode.setToolTip(
            "What the overlay shows: the class map of the shown result, or (for an image "
            "with a ground-truth label map) the pixels each pane's segmentation gets wrong: "
            "SegNet run on what the pane shows, or the map its file carries")
        self.overlay_mode.currentIndexChanged.connect(self._refresh_overlay_and_captions)
        tb.addWidget(self.overlay_mode)
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal)
        self.overlay_opacity.setObjectName("overlayOpacity")
        self.overlay_opacity.setRange(0, 100)
        self.overlay_opacity.setValue(50)
        self.overlay_opacity.setFixedWidth(90)
        self.overlay_opacity.setToolTip("Overlay opacity")
        self.overlay_opacity.valueChanged.connect(
            lambda v: self.compare.set_overlay_opacity(v / 100.0))
        tb.addWidget(self.overlay_opacity)
        self.heat_check = _check("Error map", "heatCheck",
                                 "Show |original − decoded| as a heat map (×4), Ctrl+Shift+H")
        self.heat_check.toggled.connect(self._refresh_panes)
        tb.addWidget(self.heat_check)
        tb.addSeparator()
        tb.addWidget(QLabel(" Device "))
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip(
            "Where the encoder's analysis networks run (segmentation, compact image). "
            "The decoder's networks always run on the CPU, so files decode bit-exactly; "
            "CUDA is offered when the worker's torch sees a GPU")
        self._fill_devices(["cpu"])
        self.device_combo.currentIndexChanged.connect(self._on_device_choice)
        tb.addWidget(self.device_combo)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_menus(self) -> None:
        self.actions_by_id = build_menus(self)
        self.swipe_check.toggled.connect(self.action_swipe.setChecked)
        self.overlay_check.toggled.connect(self.action_overlay.setChecked)
        self.heat_check.toggled.connect(self.action_heat.setChecked)
        for key, label in SAMPLES.items():
            act = self.menu_samples.addAction(label)
            act.setObjectName(f"actionSample_{key}")
            act.triggered.connect(lambda _=False, k=key: self.open_sample(k))
        for dock in (self.dock_a, self.dock_b, self.dock_rd, self.dock_results,
                     self.dock_inspector):
            self.menu_docks.addAction(dock.toggleViewAction())
        self.device_actions = QActionGroup(self)
        self._fill_device_menu()

    def _fill_device_menu(self) -> None:
        for act in self.device_actions.actions():
            self.device_actions.removeAction(act)
            self.menu_device.removeAction(act)
        for i in range(self.device_combo.count()):
            device = self.device_combo.itemData(i)
            act = self.menu_device.addAction(self.device_combo.itemText(i))
            act.setObjectName(f"actionDevice{DEVICE_LABELS.get(device, device)}")
            act.setCheckable(True)
            act.setChecked(i == self.device_combo.currentIndex())
            act.triggered.connect(lambda _=False, j=i: self.device_combo.setCurrentIndex(j))
            self.device_actions.addAction(act)

    def _fill_devices(self, devices: list[str]) -> None:
        """Offer the devices the worker can use (CUDA only where torch sees a GPU)."""
        want = str(self.settings.value("device", "cpu")).lower()
        self.model.set_devices(devices)
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for d in self.model.devices:
            self.device_combo.addItem(DEVICE_LABELS.get(d, d.upper()), d)
        i = self.device_combo.findData(want if want in self.model.devices else "cpu")
        self.device_combo.setCurrentIndex(max(i, 0))
        self.device_combo.setEnabled(len(self.model.devices) > 1)
        self.device_combo.blockSignals(False)
        self.model.device = self.device_combo.currentData() or "cpu"

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geom = s.value("geometry")
        if isinstance(geom, QByteArray | bytes):
            self.restoreGeometry(geom)
        else:  # fresh settings: inside the screen's available area
            self.fit_to_screen()
        state = s.value("windowState")
        if isinstance(state, QByteArray | bytes):
            self.restoreState(state)
            self._compact = compact(self.height())  # the saved dock sizes stay
        self._rebuild_recent()
        self.overlay_opacity.setValue(int(cast("int | str", s.value("overlayOpacity", 50))))
        self.swipe_check.setChecked(str(s.value("swipe", "false")).lower() == "true")

    def fit_to_screen(self) -> None:
        """Size and place the window inside the available geometry of its screen."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        a = screen.availableGeometry()
        x, y, w, h = first_geometry((a.x(), a.y(), a.width(), a.height()))
        self.resize(w, h)
        self.move(x, y)
        self._apply_layout(h)

    def _apply_layout(self, height: int) -> None:
        """The compact layout below COMPACT_HEIGHT pixels: low bottom docks (they stay
        closable and resizable, so the images get the room)."""
        low = compact(height)
        if low == getattr(self, "_compact", None):
            return
        self._compact = low
        self.resizeDocks([self.dock_rd], [bottom_dock_height(height)],
                         Qt.Orientation.Vertical)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        self._apply_layout(event.size().height())

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("overlayOpacity", self.overlay_opacity.value())
        s.setValue("device", self.model.device)
        s.setValue("swipe", self.swipe_check.isChecked())
        for side, panel in self.panels.items():
            s.setValue(f"pane{side}/pipeline", panel.pipeline())
            s.setValue(f"pane{side}/params", json.dumps(panel.params()))
        s.sync()

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker (tests call this; closing the window does it too)."""
        self.worker_thread.shutdown()

    # ------------------------------------------------------------------ dialogs
    def show_error(self, message: str, title: str = "EDMS Workbench") -> None:
        self.errors.append(message)
        self.status.showMessage(message.splitlines()[0], 8000)
        QMessageBox.critical(self, title, message)
        self.refocus()

    def about(self) -> None:
        from app.gui.docs import DOCUMENTS

        box = QMessageBox(self)
        box.setObjectName("aboutBox")
        box.setWindowTitle("About EDMS Workbench")
        box.setTextFormat(Qt.TextFormat.RichText)
        links = "".join(f"<li><a href='{name}'>{title}</a></li>"
                        for name, title in DOCUMENTS.items())
        box.setText(
            f"<h3>EDMS Workbench {__version__}</h3><p>Semantic, layered image compression "
            "(DSSLIC, EDMS, SMIC) side by side with classical codecs.</p>"
            f"<p>Pipelines: {', '.join(self.model.catalog)}</p>"
            f"<p>Documentation (opens here):</p><ul>{links}</ul>"
            "<p>Keyboard shortcuts: Help ▸ Keyboard Shortcuts.</p>")
        label = box.findChild(QLabel, "qt_msgbox_label")
        if label is not None:  # the links open in the window's document viewer
            label.setOpenExternalLinks(False)

            def open_link(name: str) -> None:  # the box closes, the document opens
                box.accept()
                self.show_doc(name)

            label.linkActivated.connect(open_link)
        self._about_box = box
        box.open()

    def show_doc(self, name: str) -> None:
        """A bundled document in a viewer inside the window (no launcher needed)."""
        from app.gui.docs import DocViewer

        viewer = DocViewer(name, self)
        self._doc_viewer = viewer
        viewer.show()

    def open_format_spec(self) -> None:
        """Help ▸ File Format: the bundled ``.edms`` specification."""
        self.show_doc("docs/edms-format.md")

    def show_shortcuts(self) -> None:
        from app.gui.docs import ShortcutList

        dialog = ShortcutList(shortcut_rows(), self)
        self._shortcut_list = dialog
        dialog.show()

    def max_pixels(self) -> int:
        """The largest image (pixels) File ▸ Open reads (Settings ▸ Maximum Image Size)."""
        from app.imageio import DEFAULT_MAX_PIXELS

        try:
            value = int(cast("int | str", self.settings.value("maxPixels", DEFAULT_MAX_PIXELS)))
        except (TypeError, ValueError):
            value = DEFAULT_MAX_PIXELS
        return max(value, 1)

    def ask_max_pixels(self) -> None:
        """Settings ▸ Maximum Image Size: the pixel limit in megapixels."""
        mp, ok = QInputDialog.getInt(
            self, "Maximum image size",
            "Largest image to open, in megapixels (memory grows with it: about 60 bytes "
            "per pixel while a learned pipeline runs):", self.max_pixels() // 1_000_000,
            1, 1000, 16)
        self.refocus()
        if ok:
            self.settings.setValue("maxPixels", int(mp) * 1_000_000)
            self.status.showMessage(f"Images up to {mp} megapixels will open", 5000)

    # ------------------------------------------------------------------ loading
    def _add_entry(self, entry: ImageEntry, select: bool = True) -> None:
        self.image_combo.blockSignals(True)
        self.image_combo.addItem(_entry_label(entry), entry.id)
        self.image_combo.setItemData(self.image_combo.count() - 1, entry.path or entry.name,
                                     Qt.ItemDataRole.ToolTipRole)
        if select:
            self.image_combo.setCurrentIndex(self.image_combo.count() - 1)
        self.image_combo.blockSignals(False)
        if select:
            self._select_image(entry.id)

    def close_image(self) -> None:
        closing = self.model.current_id
        if closing is None:
            return
        nxt = self.model.close_current()
        self.image_combo.blockSignals(True)
        self.image_combo.removeItem(self.image_combo.findData(closing))
        if nxt is not None:
            self.image_combo.setCurrentIndex(self.image_combo.findData(nxt))
        self.image_combo.blockSignals(False)
        if nxt is not None:
            self._select_image(nxt)
        else:
            self._refresh_all()

    def _on_image_selected(self) -> None:
        data = self.image_combo.currentData()
        if data is not None:
            self._select_image(int(data))

    def _select_image(self, image_id: int) -> None:
        entry = self.session.images.get(image_id)
        if entry is not None and entry.pending and not self._load_pending(entry):
            return
        self.model.select(image_id)
        self.rd_panel.set_tasks({e.task for e in self.session.images.values()})
        self._refresh_all()
        self.compare.fit()
        self.request("A")
        self.request("B")
        if entry is not None and self.model.ready:
            self._analyse_truth(entry)

    # ------------------------------------------------------------------ requests
    def _sync_pane(self, side: str) -> None:
        """The model's pane takes the side panel's pipeline and parameters."""
        panel = self.panels[side]
        self.model.set_pane(side, panel.pipeline(), panel.params())

    def _set_pane(self, side: str, pipeline: str, params: dict[str, int] | None = None
                  ) -> None:
        """Set a pane's pipeline and parameters in the panel and the model, quietly."""
        self.panels[side].set_source(pipeline, params, emit=False)
        self._sync_pane(side)

    def _on_panel_changed(self, side: str) -> None:
        self.model.active = side  # Export and Save take the pane worked with last
        self._name_export_actions()
        self.requested.setdefault(side, time.perf_counter())
        getattr(self, f"_debounce_{side}").start()

    def request(self, side: str) -> None:
        """Show pane ``side``'s setting: cached result, original, or a worker job."""
        self._sync_pane(side)
        t_req = self.requested.pop(side, time.perf_counter())
        req = self.model.request(side)
        if req.action == "none":
            return
        if req.action in ("original", "unavailable", "cached"):
            self._refresh_side(side)
            if req.action == "unavailable":
                self.status.showMessage(req.message, 8000)
            elif req.action == "cached":
                self._note_latency(t_req, cached=True)
            return
        self._submit(req.encode, "encode", t_req)
        self._set_caption(side, pending=True)

    def _submit(self, e: EncodeRequest | None, kind: str, t_request: float) -> None:
        assert e is not None
        self.worker.submit(Job(kind=kind, image_id=e.image_id, image=e.image,
                               pipeline=e.pipeline, params=e.params, side=e.side,
                               target_bpp=e.target_bpp, t_request=t_request,
                               task=self._task_of(e.image_id)))

    def _task_of(self, image_id: int) -> str:
        entry = self.session.images.get(image_id)
        return entry.task if entry is not None else ""

    def _analyse_truth(self, entry: ImageEntry) -> None:
        """For an image with ground truth: the reference network on its original (the
        ceiling the panes compare with) and on decoded results that lack it."""
        if not entry.task or entry.pending or entry.is_edms:
            return
        if entry.reference is None and entry.id not in self._reference_asked:
            self._reference_asked.add(entry.id)
            self.worker.submit(Job(kind="reference", image_id=entry.id, image=entry.array,
                                   task=entry.task, name=entry.name))
        todo = [(r.key, r.decoded) for r in self.session.unanalysed(entry.id)
                if not r.from_file]
        if todo:
            self.worker.submit(Job(kind="analyse", image_id=entry.id, task=entry.task,
                                   items=todo, name=entry.name))

    def _truth_changed(self, entry: ImageEntry) -> None:
        """A label map was chosen by hand: score again, and show it."""
        self._reference_asked.discard(entry.id)
        self._analyse_truth(entry)
        self.rd_panel.set_tasks({e.task for e in self.session.images.values()})
        self._refresh_all()
        self.status.showMessage(f"{entry.name}: ground truth {entry.truth_source}", 6000)

    def _on_reference(self, image_id: int, output: object) -> None:
        if self.model.set_reference(image_id, output):
            for side in SIDES:
                self._refresh_numbers(side)
                self._set_caption(side)
            self._refresh_overlay()

    def rerun(self) -> None:
        if self.model.current() is None:
            return
        for side in SIDES:
            self._sync_pane(side)
        self.model.forget_pane_results()
        for side in SIDES:
            self.request(side)

    def match_bitrate(self) -> None:
        self._sync_pane("B")
        req = self.model.match_request()
        if isinstance(req, str):
            self.show_error(req)
            return
        self._submit(req, "match", time.perf_counter())
        self.model.mark_waiting("B")
        self.status.showMessage(f"Matching B ({req.pipeline}) to {req.target_bpp:.4f} bpp…",
                                4000)

    def sweep_checked(self) -> None:
        self.run_sweep(self.rd_panel.sweep_plan())

    def run_sweep(self, plan: list[tuple[str, list[int]]]) -> None:
        """Queue a sweep of ``plan`` on the current image (or every open image)."""
        if self.model.current() is None:
            self.show_error("Open an image before running a sweep.")
            return
        for side in SIDES:
            self._sync_pane(side)
        if self.rd_panel.sweep_all.isChecked():  # listed images are decoded now
            for entry in list(self.session.images.values()):
                if entry.pending:
                    self._load_pending(entry)
        todo = self.model.sweep_plan(plan, self.rd_panel.sweep_all.isChecked())
        for entry, jobs in todo:
            self.worker.submit(Job(kind="sweep", image_id=entry.id, image=entry.array,
                                   plan=jobs, name=entry.name, task=entry.task))
        self.rd_panel.set_tasks({e.task for e in self.session.images.values()})
        if not todo:
            self.status.showMessage("Sweep: every point is already computed", 4000)

    def cancel(self) -> None:
        """Stop the running job (Esc): after its current tile or stage."""
        if self.worker.cancel():
            self.status.cancelling()
            self._follow_shown(self.model.cancelled())
            for side in SIDES:
                self._set_caption(side)
                self._refresh_numbers(side)
        else:
            self.status.showMessage("Nothing to cancel", 2000)

    def _follow_shown(self, sides: list[str]) -> None:
        """The controls of ``sides`` take the setting their pane shows (after a cancel)."""
        for side in sides:
            pane = self.model.panes[side]
            self.panels[side].set_source(pane.pipeline, pane.params, emit=False)
            getattr(self, f"_debounce_{side}").stop()
            self.requested.pop(side, None)
            self._refresh_side(side)

    def set_swipe(self, on: bool) -> None:
        state = self.compare.view_state()
        self.compare.set_mode("swipe" if on else "side")
        self._refresh_panes()
        self.compare.restore_view(state)
        self._show_zoom(self.compare.active_canvas())

    def _on_device_choice(self) -> None:
        device = self.device_combo.currentData() or "cpu"
        self.model.device = device
        if hasattr(self, "worker"):  # the combo is filled before the worker starts
            self.worker.set_device(device)
        for act in self.device_actions.actions():
            act.setChecked(act.text() == self.device_combo.currentText())

    # ------------------------------------------------------------------ worker signals
    def _on_catalog(self, infos: list[PipelineInfo]) -> None:
        self.model.set_catalog(infos)
        for side, panel in self.panels.items():
            panel.set_catalog(infos)
            name = str(self.settings.value(f"pane{side}/pipeline",
                                           ORIGINAL if side == "A" else "hevc"))
            try:
                params = json.loads(str(self.settings.value(f"pane{side}/params", "{}")))
            except ValueError:
                params = {}
            self._set_pane(side, name, params)
            self._set_caption(side)  # an image opened before: its pane's pipeline now
        self.rd_panel.set_catalog(infos)

    def _on_devices(self, devices: list[str]) -> None:
        self._fill_devices(list(devices))
        self._fill_device_menu()
        if self.model.device != "cpu":  # a saved choice the worker can honour
            self.worker.set_device(self.model.device)

    def _on_unavailable(self, name: str, why: str) -> None:
        for panel in self.panels.values():
            panel.mark_unavailable(name, why)
        self.model.mark_unavailable(name, why)
        self.rd_panel.set_checked({n for n, _ in self.rd_panel.sweep_plan()} - {name})

    def _on_ready(self) -> None:
        self.model.ready = True
        entry = self.current()
        if entry is not None:
            self.request("A")
            self.request("B")
            self._analyse_truth(entry)

    def _on_job_started(self, job: Job) -> None:
        total = sum(len(v) for _, v in job.plan) if job.kind == "sweep" else 0
        what = {"encode": f"{job.pipeline} {params_label(job.params)}",
                "match": f"matching {job.pipeline} to {job.target_bpp:.4f} bpp",
                "sweep": f"sweep of {job.name or 'image'} ({total} points)",
                "decode": f"decoding {job.name}"}.get(job.kind, job.kind)
        pixels = int(job.image.shape[0] * job.image.shape[1]) if job.image is not None \
            else len(job.data)
        self.status.job_started(what, total, f"{job.kind} {job.pipeline}", pixels)

    def _on_progress(self, job_id: int, stage: str, done: int, total: int) -> None:
        self.status.stage(stage, done, total)

    def _on_result(self, job: Job, result: Result) -> None:
        if job.kind == "decode":
            self._on_edms_decoded(job, result)
            return
        side = job.side if job.kind in ("encode", "match") else ""
        if side:
            self._sync_pane(side)
        if self.model.accept(result, side, match=job.kind == "match"):
            if job.kind == "match":
                self.panels[side].set_params(result.params)
            self._refresh_side(side)
            self._note_latency(job.t_request)
        self._rd_timer.start()

    def _note_latency(self, t_request: float, cached: bool = False) -> None:
        if not t_request:
            return
        dt = time.perf_counter() - t_request
        self.last_latency_s = dt
        self.latencies.append(dt)
        self.status.set_latency(dt, cached, DEBOUNCE_MS)

    def _on_updated(self, key: tuple, values: dict) -> None:
        """The worker verified a result, measured it, or withdrew it (``invalid``)."""
        for side in self.model.update(key, values):
            if values.get("invalid"):
                self._refresh_side(side)
            else:
                self._refresh_numbers(side)
                if "analysed" in values:
                    self._set_caption(side)
                    self._refresh_overlay()
        self._rd_timer.start()

    def _on_edms_decoded(self, job: Job, result: Result) -> None:
        path, header = self._pending_edms.pop(job.id, ("", {}))
        entry = self.model.add_image(Path(path).name or job.name, result.decoded, path,
                                     header=header)
        result.image_id = entry.id
        self.session.add_result(result)
        self._set_pane("A", ORIGINAL)
        self._set_pane("B", result.pipeline, result.params)
        self._add_entry(entry)
        self.status.showMessage(
            f"{Path(path).name}: {header.get('pipeline')} v{header.get('pipeline_version')}, "
            f"{header.get('width')}×{header.get('height')}, "
            f"{params_label(header.get('params', {}))}, {header.get('total_bytes')} bytes "
            f"({header.get('bpp', 0):.4f} bpp)", 10000)

    def _on_job_finished(self, job: Job, status: str) -> None:
        self.status.job_finished(status == "done")
        if status == "superseded":  # its pane asked for something else: that job runs next
            return
        if status == "cancelled":
            self._follow_shown(self.model.cancelled())
        if status != "done":
            for side in SIDES:
                self._set_caption(side)
                self._refresh_numbers(side)
        if status == "cancelled":
            self.status.cancelled()
        elif job.kind == "sweep" and status == "done":
            self.status.showMessage("Sweep finished", 4000)

    def _on_failed(self, job: Job, message: str) -> None:
        if job.kind == "decode":
            path, _ = self._pending_edms.pop(job.id, (job.name, {}))
            message = f"{Path(path).name}: {message}"
        elif job.kind in ("encode", "match", "sweep"):
            message = f"{job.pipeline or 'sweep'}: {message}"
        side = job.side if job.kind in ("encode", "match") else ""
        if side and job.image_id == self.model.current_id:
            self._sync_pane(side)
            pane = self.model.panes[side]
            shown = pane.shown
            if pane.pipeline == job.pipeline and (shown is None or shown.pipeline != job.pipeline
                                                  or shown.params != pane.params):
                # the pane says it failed; it never claims to show the original
                self.model.fail(side, message)
                self._refresh_side(side)
        self.show_error(message, "Compression failed" if job.kind != "decode" else
                        "Cannot decode")

    def _on_notice(self, job: Job, text: str) -> None:
        """Something to know about a job's result (Match bitrate out of reach)."""
        self.status.showMessage(text, 15000)
        if job.side and job.image_id == self.model.current_id:
            self.model.set_notice(job.side, text)
            self._refresh_numbers(job.side)

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
                self.rd_panel.set_bd(self.session.bd_table_all(
                    anchor, self.rd_panel.metric_key(), self.rd_panel.references), anchor)
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
            self.rd_panel.set_bd(self.session.bd_table(entry.id, anchor,
                                                       self.rd_panel.references), anchor)
        except Exception:  # noqa: BLE001 - too few points etc.: leave the table empty
            self.rd_panel.set_bd({}, anchor)

    def _image_for(self, side: str) -> np.ndarray | None:
        return self.model.image_for(side, self.heat_check.isChecked())

    def _caption_text(self, side: str, pending: bool = False) -> str:
        carried = self.overlay_check.isChecked() and self.overlay_mode.currentData() == \
            "carried"
        return self.model.caption(side, pending, self.heat_check.isChecked(), carried)

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
        self._refresh_error_scale()
        if self.inspector.side.currentData() == side and _on_screen(self.inspector):
            self._refresh_inspector()
        self._rd_timer.start()

    def _refresh_panes(self) -> None:
        for side in SIDES:
            self._refresh_side(side)
        self._refresh_error_scale()

    def _refresh_error_scale(self) -> None:
        heat = self.heat_check.isChecked() and self.current() is not None
        self.error_scale.setVisible(heat)
        if heat:
            self.error_scale.set_peak(self.model.error_peak())
        if self.current() is None:
            for c in self.compare.canvases():
                c.set_image(None)
                c.set_caption("")
            self.compare.swipe.set_captions("", "")

    def _refresh_numbers(self, side: str) -> None:
        why = self.model.fixed_setting()
        self.panels[side].set_params_enabled(not why, why)
        self.panels[side].show_numbers(self.model.panes[side].shown, self.model.note(side),
                                       self.model.accuracy_text(side))
        self._name_export_actions()

    def _name_export_actions(self) -> None:
        """File ▸ Export and Save name the pane (and result) they take."""
        what = self.model.export_label()
        self.action_export.setText(f"&Export {what} as .edms…")
        self.action_save.setText(f"&Save {what} Decoded Image…")

    def _refresh_overlay(self) -> None:
        """Each pane overlays its own map in the chosen mode, or says why it cannot."""
        entry = self.current()
        truth = entry is not None and entry.task == "segmentation"
        mode = self.overlay_mode.currentData() or "classes"
        on = self.overlay_check.isChecked()
        maps: dict[str, np.ndarray | None] = {}
        notes: dict[str, str] = {}
        for side in SIDES:
            data, why = self.model.pane_overlay(side, mode)
            if data is not None and mode == "classes":
                data = colorize_segmentation(data)
            maps[side], notes[side] = data, why
        ok = any(m is not None for m in maps.values())
        self.compare.set_overlays(maps["A"] if on else None, maps["B"] if on else None)
        swipe = self.compare.mode() == "swipe"
        for side, canvas in (("A", self.compare.pane_a), ("B", self.compare.pane_b)):
            canvas.set_note(f"Overlay: {notes[side]}" if on and notes[side] and not swipe
                            else "")
        self.compare.swipe.set_note(" · ".join(f"{s}: {notes[s]}" for s in SIDES
                                               if notes[s]) if on and swipe else "")
        self.overlay_check.setEnabled(entry is not None)
        self.overlay_check.setToolTip(
            "Overlay the segmentation map each pane's result carries" if mode == "classes"
            else "Overlay, in red, the pixels each pane's segmentation gets wrong against "
                 "the ground truth" if truth else
            "This image has no ground-truth label map: the error modes cannot apply")
        self.compare.set_overlay_opacity(self.overlay_opacity.value() / 100.0)
        self.legend.setVisible(on and ok and mode == "classes")

    def _refresh_overlay_and_captions(self) -> None:
        self._refresh_overlay()
        for side in SIDES:
            self._set_caption(side)

    def _refresh_inspector(self) -> None:
        entry = self.current()
        side = self.inspector.side.currentData() or "B"
        self.inspector.set_result(entry.array if entry else None, self.shown.get(side))

    def swap_panes(self) -> None:
        """Exchange the settings (and shown results) of panes A and B."""
        for side in SIDES:
            self._sync_pane(side)
        self.model.swap()
        for side in SIDES:
            pane = self.model.panes[side]
            self.panels[side].set_source(pane.pipeline, pane.params, emit=False)
        self._refresh_panes()

    def _pane_menu(self, canvas, pos) -> None:  # noqa: ANN001
        from PySide6.QtWidgets import QMenu

        side = "B" if canvas is self.compare.pane_b or (
            canvas is self.compare.swipe
            and canvas.mapToScene(pos).x() > canvas.fraction() * max(
                canvas.image_item.pixmap().width(), 1)) else "A"
        menu = QMenu(self)
        menu.addAction(f"Save pane {side} as shown…", lambda: self._save_pane(side))
        if self.model.panes[side].shown is not None:
            menu.addAction(f"Export pane {side} as .edms…", lambda: self._export_pane(side))
        menu.addAction(f"Copy pane {side} to clipboard", lambda: self._copy_pane(side))
        menu.addAction(f"Inspect layers of pane {side}", lambda: self._inspect(side))
        menu.addSeparator()
        menu.addAction("Swap A and B", self.swap_panes)
        menu.addAction("Zoom to fit", self.compare.fit)
        menu.addAction("Actual pixels (1:1)", self.compare.one_to_one)
        menu.exec(canvas.mapToGlobal(pos))

    def _export_pane(self, side: str) -> None:
        self.model.active = side
        self._name_export_actions()
        self.export_edms()

    def _inspect(self, side: str) -> None:
        self.inspector.side.setCurrentIndex(self.inspector.side.findData(side))
        self.dock_inspector.show()
        self.dock_inspector.raise_()
        self._refresh_inspector()

    def _show_zoom(self, canvas) -> None:  # noqa: ANN001
        if canvas.has_image() and canvas in self.compare.visible_canvases():
            self.status.set_zoom(canvas.scale_factor() * canvas.devicePixelRatioF())

    def next_image(self, step: int = 1) -> None:
        n = self.image_combo.count()
        if n:
            self.image_combo.setCurrentIndex((self.image_combo.currentIndex() + step) % n)

    def _show_pixel(self, x: int, y: int) -> None:
        """Status bar read-out of the pixel under the mouse in the original, A and B."""
        self.pixel_label.setText(self.model.pixel_text(x, y))

    def _show_result_in_b(self, result: Result) -> None:
        if result.from_file:
            return
        self._set_pane("B", result.pipeline, result.params)
        self.model.show("B", result)
        self._refresh_side("B")


def _entry_label(entry: ImageEntry) -> str:
    if entry.pending:
        return entry.name
    return f"{entry.name}  ({entry.width}×{entry.height})"


def _scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a vertical scroll area (docks that may be lower than their content)."""
    area = QScrollArea()
    area.setObjectName(f"{widget.objectName()}Scroll")
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def _check(text: str, name: str, tip: str) -> QCheckBox:
    box = QCheckBox(text)
    box.setObjectName(name)
    box.setToolTip(tip)
    return box


def _on_screen(widget: QWidget) -> bool:
    """Visible and not behind another dock tab (hidden views are refreshed when shown)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def _install_excepthook(window: MainWindow) -> None:
    """An unexpected exception in a slot becomes an error dialog, never a silent failure
    or a crash; the traceback still goes to stderr for bug reports."""
    import os
    import traceback

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        if os.environ.get("EDMS_DEBUG") or issubclass(kind, KeyboardInterrupt):
            traceback.print_exception(kind, value, tb)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        window.show_error(internal_error_text() + "\n\nThe workbench keeps running.",
                          "Internal error")

    sys.excepthook = hook


def run_app(argv: list[str]) -> int:
    """Create the application and the window, open ``argv``'s files, run the loop."""
    from app.gui.theme import apply_theme

    QApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    # a GUI application: an existing instance is the QApplication made here or by a test
    app = cast(QApplication,
               QApplication.instance() or QApplication(argv[:1] or ["edms-workbench"]))
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
    code = app.exec()
    # Stop and join the worker before Qt tears the widgets down (closing the window did
    # it already, unless the loop ended otherwise); then free the window in order.
    window.shutdown()
    sys.excepthook = sys.__excepthook__
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return code
