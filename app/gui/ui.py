"""The main window's widgets: panes, side panels, docks, tool bar, menus, status bar.

:class:`WindowUI` builds them into a :class:`QMainWindow` and names them, as Qt
Designer's ``Ui_*`` classes do; it connects nothing to the model. The views
(:mod:`app.gui.views`) and controllers (:mod:`app.gui.jobs`, :mod:`app.gui.files`,
:mod:`app.gui.dialogs`) take the parts they draw on or listen to from here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.gui.actions import build_menus
from app.gui.canvas import CompareView
from app.gui.inspector import LayerInspector
from app.gui.panels import ErrorScale, Legend, ResultsTable, SidePanel
from app.gui.rdplot import RDPanel
from app.gui.statusbar import StatusBar
from app.gui.windowfit import PREFERRED
from app.workbench import SIDES

DEVICE_LABELS = {"cpu": "CPU", "cuda": "CUDA"}


class WindowUI:
    """The widgets of ``window`` (built here, in the layout a user meets)."""

    # set by name by the menu table (app.gui.actions.build_menus)
    action_open: QAction
    action_save: QAction
    action_export: QAction
    action_close_image: QAction
    action_swipe: QAction
    action_overlay: QAction
    action_heat: QAction
    menu_samples: QMenu
    menu_recent: QMenu
    menu_docks: QMenu
    menu_device: QMenu

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.compare = CompareView()
        for c in self.compare.canvases():
            c.setAcceptDrops(False)
            c.viewport().setAcceptDrops(False)
            c.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
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
        window.setCentralWidget(central)

        self.panel_a = SidePanel("A")
        self.panel_b = SidePanel("B")
        self.panels = {"A": self.panel_a, "B": self.panel_b}
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        # the panels scroll when the window is too low for their numbers (640 px)
        self.dock_a = self._dock("Pane A", "dockA", _scrolled(self.panel_a), left)
        self.dock_b = self._dock("Pane B", "dockB", _scrolled(self.panel_b), right)
        self.rd_panel = RDPanel()
        self.results_table = ResultsTable()
        self.inspector = LayerInspector()
        self.dock_rd = self._dock("RD curves", "dockRD", self.rd_panel, bottom)
        self.dock_results = self._dock("Results", "dockResults", self.results_table, bottom)
        self.dock_inspector = self._dock("Layers", "dockInspector", self.inspector, bottom)
        window.tabifyDockWidget(self.dock_rd, self.dock_results)
        window.tabifyDockWidget(self.dock_results, self.dock_inspector)
        self.dock_rd.raise_()
        # the bottom docks (RD curves, results, layers) span the whole width
        window.setCorner(Qt.Corner.BottomLeftCorner, bottom)
        window.setCorner(Qt.Corner.BottomRightCorner, bottom)

        self._build_toolbar()
        self.status = StatusBar(window)
        window.setStatusBar(self.status)
        window.resize(*PREFERRED)
        window.resizeDocks([self.dock_a, self.dock_b], [260, 260], Qt.Orientation.Horizontal)
        window.resizeDocks([self.dock_rd], [330], Qt.Orientation.Vertical)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setMovable(False)
        self.window.addToolBar(tb)
        self.toolbar = tb
        tb.addWidget(QLabel(" Image "))
        self.image_combo = QComboBox()
        self.image_combo.setObjectName("imageCombo")
        self.image_combo.setMinimumContentsLength(26)  # "name.png  (4000×3000)"
        self.image_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        tb.addWidget(self.image_combo)
        tb.addSeparator()
        self.swipe_check = _check("Swipe", "swipeCheck", "Swipe compare: A left, B right of "
                                  "a draggable divider (Ctrl+Shift+W)")
        tb.addWidget(self.swipe_check)
        self.match_button = QPushButton("Match bitrate")
        self.match_button.setObjectName("matchButton")
        self.match_button.setToolTip("Set B to the setting whose bpp is closest to A's, as "
                                     "edms compare picks it (Ctrl+M)")
        tb.addWidget(self.match_button)
        tb.addSeparator()
        self.overlay_check = _check("Segmentation", "overlayCheck", "Overlay the "
                                    "segmentation map of the shown result (pipelines that "
                                    "produce one)")
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
        tb.addWidget(self.overlay_mode)
        self.overlay_opacity = QSlider(Qt.Orientation.Horizontal)
        self.overlay_opacity.setObjectName("overlayOpacity")
        self.overlay_opacity.setRange(0, 100)
        self.overlay_opacity.setValue(50)
        self.overlay_opacity.setFixedWidth(90)
        self.overlay_opacity.setToolTip("Overlay opacity")
        tb.addWidget(self.overlay_opacity)
        self.heat_check = _check("Error map", "heatCheck",
                                 "Show |original − decoded| as a heat map (×4), Ctrl+Shift+H")
        tb.addWidget(self.heat_check)
        tb.addSeparator()
        tb.addWidget(QLabel(" Device "))
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setToolTip(
            "Where the encoder's analysis networks run (segmentation, compact image). "
            "The decoder's networks always run on the CPU, so files decode bit-exactly; "
            "CUDA is offered when the worker's torch sees a GPU")
        tb.addWidget(self.device_combo)

    def build_menus(self) -> None:
        """The menus of the actions table; their callbacks are the window's commands."""
        self.actions_by_id = build_menus(self.window, holder=self)
        self.swipe_check.toggled.connect(self.action_swipe.setChecked)
        self.overlay_check.toggled.connect(self.action_overlay.setChecked)
        self.heat_check.toggled.connect(self.action_heat.setChecked)
        for dock in (self.dock_a, self.dock_b, self.dock_rd, self.dock_results,
                     self.dock_inspector):
            self.menu_docks.addAction(dock.toggleViewAction())

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea
              ) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.window.addDockWidget(area, dock)
        return dock

    def canvas_side(self, canvas, pos) -> str:  # noqa: ANN001
        """The pane a point of ``canvas`` shows (the swipe view shows both)."""
        swipe = self.compare.swipe
        if canvas is self.compare.pane_b or canvas is swipe and canvas.mapToScene(pos).x() \
                > canvas.fraction() * max(canvas.image_item.pixmap().width(), 1):
            return "B"
        return "A"


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


def on_screen(widget: QWidget) -> bool:
    """Visible and not behind another dock tab (hidden views are refreshed when shown)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


__all__ = ["DEVICE_LABELS", "SIDES", "WindowUI", "on_screen"]
