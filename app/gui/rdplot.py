"""Live rate-distortion curves (pyqtgraph), sweeps, the BD-rate table and the exports."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.worker import PipelineInfo
from app.session import Result, params_label

METRICS = (("psnr", "PSNR-RGB (dB)"), ("ms_ssim", "MS-SSIM (dB, −10·log10(1−MS-SSIM))"),
           ("haarpsi", "HaarPSI"))


def pipeline_colour(index: int) -> tuple[int, int, int]:
    # Tableau-10 colours: distinct, readable on light and dark backgrounds.
    tab10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
             (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
    return tab10[index % len(tab10)]


class RDPanel(QWidget):
    """Plot on the left; sweep plan, BD table and export buttons on the right."""

    sweep_requested = Signal(object)  # [(pipeline, [values]), ...]
    export_requested = Signal(str)  # "plot", "csv", "json"
    anchor_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rdPanel")
        self.colours: dict[str, tuple[int, int, int]] = {}
        self.catalog: list[PipelineInfo] = []
        # plot
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("rdPlot")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "bpp (whole .edms file)")
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="9pt")
        self.metric = QComboBox()
        self.metric.setObjectName("rdMetric")
        for key, label in METRICS:
            self.metric.addItem(label.split(" (")[0], key)
        self.points_label = QLabel()
        self.points_label.setObjectName("rdPointsLabel")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Quality metric:"))
        top.addWidget(self.metric)
        top.addStretch(1)
        top.addWidget(self.points_label)
        lv.addLayout(top)
        lv.addWidget(self.plot, 1)
        # sweep plan
        self.sweep_table = QTableWidget(0, 2)
        self.sweep_table.setObjectName("sweepTable")
        self.sweep_table.setHorizontalHeaderLabels(["Pipeline", "Values (comma-separated)"])
        self.sweep_table.verticalHeader().setVisible(False)
        self.sweep_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.sweep_table.horizontalHeader().setStretchLastSection(True)
        self.sweep_button = QPushButton("Sweep checked")
        self.sweep_button.setObjectName("sweepButton")
        self.sweep_button.setToolTip("Encode the current image at every listed value of every "
                                     "checked pipeline, in the background")
        # BD table
        self.anchor = QComboBox()
        self.anchor.setObjectName("anchorCombo")
        self.bd_table = QTableWidget(0, 3)
        self.bd_table.setObjectName("bdTable")
        self.bd_table.setHorizontalHeaderLabels(["Pipeline", "BD-rate", "BD-PSNR"])
        self.bd_table.verticalHeader().setVisible(False)
        self.bd_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.bd_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # exports
        self.export_plot = QPushButton("Plot…")
        self.export_plot.setObjectName("exportPlotButton")
        self.export_plot.setToolTip("Save the RD plot as PNG, PDF or SVG (matplotlib)")
        self.export_csv = QPushButton("CSV…")
        self.export_csv.setObjectName("exportCsvButton")
        self.export_json = QPushButton("JSON…")
        self.export_json.setObjectName("exportJsonButton")
        self.export_json.setToolTip("CompressAI-style results JSON (as edms eval writes)")
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(QLabel("<b>Sweep</b>"))
        rv.addWidget(self.sweep_table, 3)
        rv.addWidget(self.sweep_button)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>BD</b> vs anchor:"))
        row.addWidget(self.anchor, 1)
        rv.addLayout(row)
        rv.addWidget(self.bd_table, 2)
        ex = QHBoxLayout()
        ex.addWidget(QLabel("Export:"))
        ex.addWidget(self.export_plot)
        ex.addWidget(self.export_csv)
        ex.addWidget(self.export_json)
        rv.addLayout(ex)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self.sweep_button.clicked.connect(self._sweep)
        self.export_plot.clicked.connect(lambda: self.export_requested.emit("plot"))
        self.export_csv.clicked.connect(lambda: self.export_requested.emit("csv"))
        self.export_json.clicked.connect(lambda: self.export_requested.emit("json"))
        self.anchor.currentIndexChanged.connect(
            lambda: self.anchor_changed.emit(self.anchor.currentData() or ""))
        self.scatter_items: dict[str, pg.ScatterPlotItem] = {}

    def set_catalog(self, infos: list[PipelineInfo], checked: set[str] | None = None) -> None:
        self.catalog = [i for i in infos if not i.error]
        self.colours = {info.name: pipeline_colour(i) for i, info in enumerate(infos)}
        checked = checked if checked is not None else {"hevc", "jpeg", "webp"}
        self.sweep_table.setRowCount(len(self.catalog))
        for r, info in enumerate(self.catalog):
            name_item = QTableWidgetItem(info.name)
            name_item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            name_item.setCheckState(Qt.CheckState.Checked if info.name in checked
                                    else Qt.CheckState.Unchecked)
            name_item.setToolTip(info.description)
            self.sweep_table.setItem(r, 0, name_item)
            spec = info.params[0] if info.params else None
            values = ", ".join(str(v) for v in spec["sweep"]) if spec else ""
            v_item = QTableWidgetItem(values)
            if spec:
                v_item.setToolTip(f"{spec['label']} values, {spec['minimum']}..{spec['maximum']}")
            self.sweep_table.setItem(r, 1, v_item)
        current = self.anchor.currentData()
        self.anchor.blockSignals(True)
        self.anchor.clear()
        for info in self.catalog:
            self.anchor.addItem(info.name, info.name)
        i = self.anchor.findData(current or "hevc")
        self.anchor.setCurrentIndex(max(i, 0))
        self.anchor.blockSignals(False)

    def sweep_plan(self) -> list[tuple[str, list[int]]]:
        """Checked pipelines and their values (invalid entries are skipped)."""
        plan = []
        for r in range(self.sweep_table.rowCount()):
            item = self.sweep_table.item(r, 0)
            if item.checkState() != Qt.CheckState.Checked:
                continue
            info = self.catalog[r]
            spec = info.params[0] if info.params else None
            text = self.sweep_table.item(r, 1).text() if self.sweep_table.item(r, 1) else ""
            values = []
            for part in text.replace(";", ",").split(","):
                part = part.strip()
                if part.lstrip("-").isdigit():
                    v = int(part)
                    if spec is None or spec["minimum"] <= v <= spec["maximum"]:
                        values.append(v)
            if values:
                plan.append((info.name, values))
        return plan

    def set_checked(self, names: set[str]) -> None:
        for r in range(self.sweep_table.rowCount()):
            item = self.sweep_table.item(r, 0)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)

    def _sweep(self) -> None:
        self.sweep_requested.emit(self.sweep_plan())

    def metric_key(self) -> str:
        return self.metric.currentData()

    def update_curves(self, series: dict[str, list[tuple]], highlight: list[Result]) -> None:
        """Redraw from ``{pipeline: [(bpp, y, result), ...]}``; ring the shown results."""
        self.plot.clear()
        self.legend.clear()
        self.scatter_items = {}
        key = self.metric_key()
        self.plot.setLabel("left", dict(METRICS)[key])
        n = 0
        for name, pts in series.items():
            rgb = self.colours.get(name, (200, 200, 200))
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            n += len(pts)
            pen = pg.mkPen(color=rgb, width=2)
            self.plot.plot(xs, ys, pen=pen, name=name)
            tips = [
                f"{name}  {params_label(p[2].params)}\n{p[0]:.4f} bpp, {p[2].file_bytes} bytes\n"
                f"PSNR {p[2].psnr:.2f} dB, MS-SSIM {p[2].ms_ssim:.4f}, "
                f"HaarPSI {p[2].haarpsi:.4f}"
                for p in pts
            ]
            scatter = pg.ScatterPlotItem(
                xs, ys, data=tips, size=8, pen=pg.mkPen("w", width=0.5),
                brush=pg.mkBrush(*rgb), hoverable=True, hoverSize=12,
                tip=lambda x, y, data: data,
            )
            scatter.setObjectName(f"rdScatter_{name}") if hasattr(scatter, "setObjectName") \
                else None
            self.plot.addItem(scatter)
            self.scatter_items[name] = scatter
        for r in highlight:
            for name, pts in series.items():
                for p in pts:
                    if p[2] is r:
                        ring = pg.ScatterPlotItem([p[0]], [p[1]], size=16, symbol="o",
                                                  pen=pg.mkPen(color=self.colours.get(
                                                      name, (255, 255, 255)), width=2),
                                                  brush=None)
                        self.plot.addItem(ring)
        self.points_label.setText(f"{n} point{'s' if n != 1 else ''}")

    def set_bd(self, table: dict[str, dict[str, float | None]], anchor: str) -> None:
        rows = [(k, v) for k, v in table.items() if k != anchor]
        self.bd_table.setRowCount(len(rows))
        for i, (name, row) in enumerate(rows):
            rate, dpsnr = row.get("bd-rate-%"), row.get("bd-psnr-db")
            cells = [
                name,
                "—" if rate is None or not math.isfinite(rate) else f"{rate:+.1f} %",
                "—" if dpsnr is None or not math.isfinite(dpsnr) else f"{dpsnr:+.2f} dB",
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    if rate is None:
                        item.setToolTip("needs at least 4 points on both curves, overlapping")
                self.bd_table.setItem(i, j, item)
