"""The workbench's main window: a composition of views bound to an evented model.

The window owns a Qt-free :class:`app.workbench.Workbench` (images, panes, results,
planning) and the :class:`app.gui.worker.Worker` thread, and puts together

- :class:`app.gui.ui.WindowUI`: the widgets (panes, side panels, docks, tool bar, menus
  from the table in :mod:`app.gui.actions`, status bar);
- the views of :mod:`app.gui.views`, subscribed to the model's events (a pane shows
  another result, the results changed, the current image changed, a status message);
- the controllers: :class:`app.gui.jobs.Jobs` (pane requests, sweeps, cancel, the
  worker's answers), :class:`app.gui.files.FileActions` (open, images, ground truth,
  export), :class:`app.gui.dialogs.Prompts` (errors, About, documents, settings).

What is left here is the window itself: its settings, size, drops and shutdown. Commands
of the menus and of scripts (``window.open_paths``, ``window.request``) are found on the
parts (:meth:`MainWindow.__getattr__`). This module never imports torch (a test checks).
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

from app import __version__
from app.gui.dialogs import Prompts
from app.gui.files import FileActions
from app.gui.jobs import Devices, Jobs
from app.gui.nonefix import protect_none
from app.gui.ui import WindowUI
from app.gui.views import DataViews, ImageList, PaneViews
from app.gui.windowfit import bottom_dock_height, compact, first_geometry
from app.gui.worker import PipelineInfo, WorkerThread
from app.session import ImageEntry, Result, Session
from app.shipped import shipped_path
from app.workbench import Workbench, internal_error_text

#: where :meth:`MainWindow.__getattr__` looks for a name the window lacks, in this order
PARTS = ("ui", "files", "jobs", "prompts", "pane_views", "data_views", "devices", "status")


class MainWindow(QMainWindow):
    """The views and controllers of one :class:`Workbench` (``self.model``)."""

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
        self.model = model = Workbench()
        self.ui = ui = WindowUI(self)
        self.status = ui.status
        self.prompts = Prompts(self, ui.status, model, self.settings)
        self.devices = Devices(ui, model, None, self.settings)
        ui.build_menus()
        self.devices.fill_menu()
        # the views: each redraws its part when the model announces a change to it
        self.pane_views = PaneViews(ui, model)
        self.data_views = DataViews(ui, model, self)
        self.image_list = ImageList(ui, model)
        model.events.status.connect(lambda text, ms: ui.status.showMessage(text, ms))
        ui.swipe_check.toggled.connect(self.set_swipe)
        for canvas in ui.compare.canvases():
            canvas.hovered.connect(
                lambda x, y: ui.status.pixel_label.setText(model.pixel_text(x, y)))
            canvas.view_changed.connect(lambda c=canvas: self._show_zoom(c))
        self._compact: bool | None = None  # the layout applied (None: none yet)
        self._restore_settings()
        # the worker and the controllers that talk to it
        self.worker_thread = WorkerThread(start=False)  # started once all is connected
        self.worker = self.worker_thread.worker
        self.devices.attach(self.worker)
        self.jobs = Jobs(ui, model, self.worker, self.settings, self.prompts.show_error,
                         lambda entry: self.files.load_pending(entry), self)
        self.files = FileActions(ui, model, self.worker, self.settings, self.prompts,
                                 self.jobs, self.pane_views.inspect)
        model.on_close = self.worker.forget_image  # closing an image cancels its work
        self.worker_thread.start()
        self.pane_views.refresh_all()
        self.data_views.refresh()

    def __getattr__(self, name: str) -> Any:
        """A name the window lacks, from its parts (:data:`PARTS`): the widgets
        (``window.panel_b``), the commands of the menus and scripts (``window.request``,
        ``window.open_paths``), the status bar's labels."""
        if not name.startswith("_"):
            parts = self.__dict__
            for part in PARTS:
                obj = parts.get(part)
                if obj is not None and hasattr(obj, name):
                    return getattr(obj, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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

    # ------------------------------------------------------------------ the view
    def set_swipe(self, on: bool) -> None:
        compare = self.ui.compare
        state = compare.view_state()
        compare.set_mode("swipe" if on else "side")
        self.pane_views.refresh_panes()
        compare.restore_view(state)
        self._show_zoom(compare.active_canvas())

    def _show_zoom(self, canvas) -> None:  # noqa: ANN001
        if canvas.has_image() and canvas in self.ui.compare.visible_canvases():
            self.ui.status.set_zoom(canvas.scale_factor() * canvas.devicePixelRatioF())

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
        self.ui.overlay_opacity.setValue(int(cast("int | str", s.value("overlayOpacity", 50))))
        self.ui.swipe_check.setChecked(str(s.value("swipe", "false")).lower() == "true")

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
        if low == self.__dict__.get("_compact"):
            return
        self._compact = low
        self.resizeDocks([self.ui.dock_rd], [bottom_dock_height(height)],
                         Qt.Orientation.Vertical)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        if "ui" in self.__dict__:
            self._apply_layout(event.size().height())

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("overlayOpacity", self.ui.overlay_opacity.value())
        s.setValue("device", self.model.device)
        s.setValue("swipe", self.ui.swipe_check.isChecked())
        for side, panel in self.ui.panels.items():
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

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.files.open_paths(paths))


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
