"""Live rate-distortion curves (pyqtgraph), sweeps, the BD-rate table and the exports."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
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
from app.plotstyle import Style, pipeline_styles
from app.refcurves import MARK, ReferenceCurve, unique
from app.session import ACCURACY_METRICS, Result, params_label

#: image qualities, always offered
IMAGE_METRICS = (("psnr", "PSNR-RGB (dB)"),
                 ("ms_ssim", "MS-SSIM (dB, −10·log10(1−MS-SSIM))"), ("haarpsi", "HaarPSI"))
#: machine accuracies, offered when an open image has ground truth of their task
TASK_METRICS = tuple((key, label) for key, (_, _, label) in ACCURACY_METRICS.items())
METRICS = IMAGE_METRICS + TASK_METRICS


#: Okabe & Ito's colour-blind-safe palette (black left out: the dark theme's background)
OKABE_ITO = ((230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
             (213, 94, 0), (204, 121, 167), (153, 153, 153))
#: colours of reference curves (dashed), in this order: the Okabe-Ito ones but yellow,
#: which is faint on a light background beside a thin dashed line
REFERENCE_COLOURS = tuple(OKABE_ITO[i] for i in (5, 6, 4, 7, 1, 2, 0))


def pipeline_style(name: str, names: list[str] | tuple[str, ...] = ()
                   ) -> tuple[tuple[int, int, int], str]:
    """Colour and (pyqtgraph) marker of pipeline ``name`` among ``names``: the style table
    of :mod:`app.plotstyle`, which the exported matplotlib plots use too."""
    st = pipeline_styles([*names, name])[name]
    return st.rgb, st.symbol


def _pen(rgb: tuple[int, int, int], dashed: bool):  # noqa: ANN202 - a QPen
    """A curve's line: 2 px, dashed for the second round of colours."""
    return pg.mkPen(color=rgb, width=2,
                    style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)


def _tip(name: str, p: tuple) -> str:
    """Hover text of one RD point: a Result, or a mean row (dict) over images."""
    bpp, _, item = p
    if isinstance(item, Result):
        acc = {k: item.accuracy(k) for k in ACCURACY_METRICS}
        return (f"{name}  {params_label(item.params)}\n{bpp:.4f} bpp, {item.file_bytes} bytes\n"
                f"PSNR {item.psnr:.2f} dB, MS-SSIM {item.ms_ssim:.4f}, "
                f"HaarPSI {item.haarpsi:.4f}" + _acc_tip(acc))
    return (f"{name}  {item['param']}={item['value']}  (mean of {item['n']} image"
            f"{'s' if item['n'] != 1 else ''})\n{bpp:.4f} bpp\n"
            f"PSNR {item['psnr']:.2f} dB, MS-SSIM {item['ms_ssim']:.4f}, "
            f"HaarPSI {item['haarpsi']:.4f}"
            + _acc_tip({k: item.get(k, math.nan) for k in ACCURACY_METRICS}))


def _acc_tip(acc: dict[str, float]) -> str:
    names = {"miou": "mIoU", "miou_carried": "mIoU carried", "top1": "top-1",
             "top1_carried": "top-1 carried"}
    parts = [f"{names[k]} {v:.3f}" for k, v in acc.items() if math.isfinite(v)]
    return ("\n" + ", ".join(parts)) if parts else ""


class CurveLegend(QWidget):
    """The RD plot's legend: one row per curve (its line and marker, then its name), in a
    column beside the plot so it never hides a point."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rdLegend")
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(4, 4, 4, 4)
        self._lay.setSpacing(2)
        self._lay.addStretch(1)
        self.names: list[str] = []

    def clear(self) -> None:
        while self._lay.count() > 1:
            item = self._lay.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # gone now, not only at the next event loop turn
                widget.deleteLater()
        self.names = []

    def add(self, name: str, rgb: tuple[int, int, int], symbol: str, dashed: bool = False
            ) -> None:
        from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol
        from PySide6.QtGui import QColor, QPainter, QPixmap

        pix = QPixmap(28, 14)
        pix.fill(QColor(0, 0, 0, 0))
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(_pen(rgb, dashed))
        p.drawLine(0, 7, 28, 7)
        p.translate(14, 7)
        drawSymbol(p, symbol, 9, pg.mkPen(self.palette().text().color()), pg.mkBrush(*rgb))
        p.end()
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(4)
        icon = QLabel()
        icon.setPixmap(pix)
        h.addWidget(icon)
        h.addWidget(QLabel(name))
        h.addStretch(1)
        self._lay.insertWidget(self._lay.count() - 1, row)
        self.names.append(name)


class RDPanel(QWidget):
    """Plot on the left; sweep plan, BD table and export buttons on the right."""

    sweep_requested = Signal(object)  # [(pipeline, [values]), ...]
    export_requested = Signal(str)  # "plot", "csv", "json"
    anchor_changed = Signal(str)
    references_changed = Signal()  # reference curves added or cleared

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("rdPanel")
        self.colours: dict[str, tuple[int, int, int]] = {}
        self.symbols: dict[str, str] = {}
        self.styles: dict[str, Style] = {}
        self.catalog: list[PipelineInfo] = []
        #: published curves shown beside the measured ones (Data ▸ Add Reference Curve…)
        self.references: list[ReferenceCurve] = []
        self.reference_items: dict[str, pg.PlotDataItem] = {}
        # plot
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("rdPlot")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "bpp (whole .edms file)")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        # the legend is a column of its own right of the plot, never over the data
        self.legend = CurveLegend()
        self.plot.getViewBox().setLimits(xMin=0)  # no negative bpp, even for one point
        self.metric_combo = QComboBox()
        self.metric_combo.setObjectName("rdMetric")
        for key, label in IMAGE_METRICS:
            self.metric_combo.addItem(label.split(" (")[0], key)
        self._tasks: set[str] = set()
        self.scope_combo = QComboBox()
        self.scope_combo.setObjectName("rdScope")
        self.scope_combo.addItem("This image", "image")
        self.scope_combo.addItem("All open images (mean)", "all")
        self.scope_combo.setToolTip("Curves of the current image, or the mean over every open "
                                    "image per pipeline and parameter value (as edms eval)")
        self.points_label = QLabel()
        self.points_label.setObjectName("rdPointsLabel")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Quality"))
        top.addWidget(self.metric_combo)
        top.addWidget(QLabel("  Scope"))
        top.addWidget(self.scope_combo)
        top.addStretch(1)
        top.addWidget(self.points_label)
        lv.addLayout(top)
        plot_row = QHBoxLayout()
        plot_row.addWidget(self.plot, 1)
        plot_row.addWidget(self.legend)
        lv.addLayout(plot_row, 1)
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
        self.export_json.setToolTip("CompressAI results files, one per pipeline, into a "
                                    "folder (as edms eval --json-dir writes)")
        sweep_box = QWidget()
        sv = QVBoxLayout(sweep_box)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(QLabel("<b>Sweep</b> (checked pipelines, in the background)"))
        sv.addWidget(self.sweep_table, 1)
        self.sweep_all = QCheckBox("all open images")
        self.sweep_all.setObjectName("sweepAllImages")
        self.sweep_all.setToolTip("Sweep every open image, not only the current one")
        srow = QHBoxLayout()
        srow.addWidget(self.sweep_button, 1)
        srow.addWidget(self.sweep_all)
        sv.addLayout(srow)
        bd_box = QWidget()
        bv = QVBoxLayout(bd_box)
        bv.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("<b>BD</b> vs anchor"))
        row.addWidget(self.anchor, 1)
        bv.addLayout(row)
        bv.addWidget(self.bd_table, 1)
        ex = QHBoxLayout()
        ex.addWidget(QLabel("Export"))
        ex.addWidget(self.export_plot)
        ex.addWidget(self.export_csv)
        ex.addWidget(self.export_json)
        bv.addLayout(ex)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(sweep_box)
        split.addWidget(bd_box)
        split.setStretchFactor(0, 5)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 2)
        split.setSizes([700, 330, 330])
        for box in (left, sweep_box, bd_box):  # a narrow window squeezes, never widens
            box.setMinimumWidth(160)
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
        self._apply_palette()

    def _apply_palette(self) -> None:
        """Plot colours from the widget palette (light and dark themes)."""
        pal = self.palette()
        self.plot.setBackground(pal.base().color())
        fg = pal.text().color()
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(fg))
            axis.setTextPen(pg.mkPen(fg))

    def changeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def set_catalog(self, infos: list[PipelineInfo], checked: set[str] | None = None) -> None:
        self.catalog = [i for i in infos if not i.error]
        self._set_styles([info.name for info in infos])
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
        self._add_reference_anchors()
        i = self.anchor.findData(current or "hevc")
        self.anchor.setCurrentIndex(max(i, 0))
        self.anchor.blockSignals(False)

    def _set_styles(self, names: list[str]) -> None:
        """Styles by pipeline name (:mod:`app.plotstyle`), the same in every plot."""
        self.styles = pipeline_styles(names)
        self.colours = {name: st.rgb for name, st in self.styles.items()}
        self.symbols = {name: st.symbol for name, st in self.styles.items()}

    def sweep_plan(self) -> list[tuple[str, list[int]]]:
        """Checked pipelines and their values (invalid entries are skipped)."""
        plan = []
        for r in range(self.sweep_table.rowCount()):
            item = self.sweep_table.item(r, 0)
            assert item is not None  # set_catalog fills every row
            if item.checkState() != Qt.CheckState.Checked:
                continue
            info = self.catalog[r]
            spec = info.params[0] if info.params else None
            values_item = self.sweep_table.item(r, 1)
            text = values_item.text() if values_item else ""
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
            assert item is not None  # set_catalog fills every row
            item.setCheckState(Qt.CheckState.Checked if item.text() in names
                               else Qt.CheckState.Unchecked)

    def _sweep(self) -> None:
        self.sweep_requested.emit(self.sweep_plan())

    def metric_key(self) -> str:
        return self.metric_combo.currentData()

    def set_tasks(self, tasks: set[str]) -> None:
        """Offer the accuracies of the tasks some open image has ground truth for (mIoU
        for label maps, top-1 for class folders) besides the image qualities."""
        tasks = {t for t in tasks if t}
        if tasks == self._tasks:
            return
        self._tasks = tasks
        current = self.metric_key()
        self.metric_combo.blockSignals(True)
        while self.metric_combo.count() > len(IMAGE_METRICS):
            self.metric_combo.removeItem(self.metric_combo.count() - 1)
        for key, label in TASK_METRICS:
            if ACCURACY_METRICS[key][0] in tasks:
                short = {"miou": "mIoU", "miou_carried": "mIoU carried", "top1": "Top-1",
                         "top1_carried": "Top-1 carried"}[key]
                self.metric_combo.addItem(short, key)
                self.metric_combo.setItemData(self.metric_combo.count() - 1, label,
                                              Qt.ItemDataRole.ToolTipRole)
        i = self.metric_combo.findData(current)
        self.metric_combo.setCurrentIndex(max(i, 0))
        self.metric_combo.blockSignals(False)
        if i < 0:
            self.metric_combo.currentIndexChanged.emit(0)

    def update_curves(self, series: dict[str, list[tuple]], highlight: list[Result]) -> None:
        """Redraw from ``{pipeline: [(bpp, y, result), ...]}``; ring the shown results."""
        self.plot.clear()
        self.legend.clear()
        self.scatter_items = {}
        key = self.metric_key()
        label = dict(METRICS)[key]  # too long for a low plot: its short form
        if self.plot.fontMetrics().horizontalAdvance(label) > self.plot.height() - 40:
            label = label.split(" (")[0]
        self.plot.setLabel("left", label)
        n = 0
        edge = self.palette().text().color()
        if any(name not in self.styles for name in series):
            self._set_styles([*self.styles, *series])
        for name, pts in series.items():
            st = self.styles[name]
            rgb, symbol = st.rgb, st.symbol
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            n += len(pts)
            self.plot.plot(xs, ys, pen=_pen(rgb, st.dashed), symbol=symbol, symbolSize=9,
                           symbolBrush=pg.mkBrush(*rgb), symbolPen=pg.mkPen(edge))
            self.legend.add(name, rgb, symbol, st.dashed)
            tips = [_tip(name, p) for p in pts]
            scatter = pg.ScatterPlotItem(
                xs, ys, data=tips, size=9, symbol=symbol, pen=pg.mkPen(edge, width=0.5),
                brush=pg.mkBrush(*rgb), hoverable=True, hoverSize=12,
                tip=lambda x, y, data: data,
            )
            self.plot.addItem(scatter)
            self.scatter_items[name] = scatter
        if n:
            xs_all = [p[0] for pts in series.values() for p in pts]
            self.plot.setXRange(0, max(xs_all) * 1.08 or 1.0, padding=0)
        self._draw_references(key, max(xs_all) * 1.08 if n else None)
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

    def scope(self) -> str:
        return self.scope_combo.currentData()

    def set_bd(self, table: dict[str, dict[str, float | None]], anchor: str) -> None:
        """The BD table; for an accuracy quality, the BD-rate at equal accuracy (over the
        rising part of each curve, as edms eval --task) replaces the PSNR one."""
        rows = [(k, v) for k, v in table.items() if k != anchor]
        key = self.metric_key()
        acc = key in ACCURACY_METRICS
        short = {"miou": "mIoU", "miou_carried": "mIoU c.", "top1": "top-1",
                 "top1_carried": "top-1 c."}
        self.bd_table.setHorizontalHeaderLabels(
            ["Pipeline", f"BD-rate ({short[key]})" if acc else "BD-rate", "BD-PSNR"])
        header = self.bd_table.horizontalHeaderItem(1)
        if header is not None:
            header.setToolTip(
                f"Bits saved against the anchor at equal {dict(METRICS)[key]}, over the "
                "rising part of each curve (a saturated accuracy has no rate to save)"
                if acc else "Bits saved against the anchor at equal PSNR")
        self.bd_table.setRowCount(len(rows))
        for i, (name, row) in enumerate(rows):
            rate, dpsnr = row.get("bd-rate-%"), row.get("bd-psnr-db")
            if acc:
                rate = row.get(f"bd-rate-{key.replace('_', '-')}-%")
            cells = [
                name,
                "—" if rate is None or not math.isfinite(rate) else f"{rate:+.1f} %",
                "—" if dpsnr is None or not math.isfinite(dpsnr) else f"{dpsnr:+.2f} dB",
            ]
            published = name.endswith(MARK)
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if published:
                    item.setToolTip("a published curve (its own file's bpp, the mean over "
                                    "its data set), not measured here")
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    if rate is None:
                        item.setToolTip("needs at least 4 points on both curves, overlapping")
                self.bd_table.setItem(i, j, item)

    # ------------------------------------------------------------- reference curves

    def add_references(self, curves: list[ReferenceCurve]) -> list[ReferenceCurve]:
        """Show published curves (:func:`app.refcurves.read_curve`) in the plot, the BD
        table and the anchor menu; a file already shown is skipped, a name already used is
        told apart by its file's stem. Returns the curves added."""
        added = []
        for curve in curves:
            if any(c.source == curve.source for c in self.references):
                continue
            curve = unique(curve, self.references)
            self.references.append(curve)
            added.append(curve)
        if added:
            self._sync_reference_anchors()
            self.references_changed.emit()
        return added

    def clear_references(self) -> None:
        """Remove every reference curve (the anchor falls back to a pipeline)."""
        if not self.references:
            return
        self.references = []
        self._sync_reference_anchors()
        self.references_changed.emit()

    def _add_reference_anchors(self) -> None:
        for curve in self.references:
            self.anchor.addItem(curve.label, curve.label)
            self.anchor.setItemData(self.anchor.count() - 1,
                                    f"{curve.description or curve.name} ({curve.source}): "
                                    "published, not measured here",
                                    Qt.ItemDataRole.ToolTipRole)

    def _sync_reference_anchors(self) -> None:
        """The anchor menu's reference entries, after the pipelines; the choice is kept
        if it still exists, else the anchor is ``hevc`` (or the first entry)."""
        current = self.anchor.currentData()
        self.anchor.blockSignals(True)
        for i in reversed(range(self.anchor.count())):
            if str(self.anchor.itemData(i)).endswith(MARK):
                self.anchor.removeItem(i)
        self._add_reference_anchors()
        i = self.anchor.findData(current)
        if i < 0:
            i = max(self.anchor.findData("hevc"), 0)
        self.anchor.setCurrentIndex(i)
        self.anchor.blockSignals(False)

    def _draw_references(self, key: str, x_max: float | None) -> None:
        """The reference curves, dashed with ``x`` markers and ``(published)`` labels, for
        the qualities their files have (none for machine accuracies); cut at ``x_max``
        (the measured points' range) so a long published curve does not squeeze them."""
        self.reference_items = {}
        edge = self.palette().text().color()
        for i, curve in enumerate(self.references):
            xs, ys = _reference_xy(curve, key)
            line_x, line_y = _cut(xs, ys, x_max) if x_max is not None else (xs, ys)
            if not line_x:
                continue
            rgb = REFERENCE_COLOURS[i % len(REFERENCE_COLOURS)]
            item = self.plot.plot(line_x, line_y, pen=pg.mkPen(color=rgb, width=2,
                                                               style=Qt.PenStyle.DashLine))
            self.reference_items[curve.label] = item
            self.legend.add(curve.label, rgb, "x", dashed=True)
            # markers on the file's own points only (not where the line is cut)
            shown = [(x, y) for x, y in zip(xs, ys, strict=True)
                     if x_max is None or x <= x_max]
            xs, ys = [x for x, _ in shown], [y for _, y in shown]
            tips = [_reference_tip(curve, key, x, y) for x, y in shown]
            scatter = pg.ScatterPlotItem(xs, ys, data=tips, size=7, symbol="x",
                                         pen=pg.mkPen(edge, width=0.5), brush=pg.mkBrush(*rgb),
                                         hoverable=True, hoverSize=11,
                                         tip=lambda x, y, data: data)
            self.plot.addItem(scatter)
        if x_max is None and self.reference_items:
            top = max(max(c.results["bpp"]) for c in self.references)
            self.plot.setXRange(0, top * 1.08, padding=0)


def _reference_tip(curve: ReferenceCurve, key: str, bpp: float, y: float) -> str:
    """Hover text of a reference curve's point."""
    quality = {"psnr": f"PSNR {y:.2f} dB", "ms_ssim": f"MS-SSIM {y:.2f} dB",
               "haarpsi": f"HaarPSI {y:.4f}"}.get(key, f"{y:.4f}")
    return f"{curve.label}\n{bpp:.4f} bpp, {quality}\n{curve.source}: not measured here"


def _reference_xy(curve: ReferenceCurve, key: str) -> tuple[list[float], list[float]]:
    """bpp and the plotted quality of a reference curve (empty where its file lacks it)."""
    r = curve.results
    if key == "psnr" and "psnr-rgb" in r:
        return list(r["bpp"]), list(r["psnr-rgb"])
    if key == "ms_ssim" and "ms-ssim-rgb" in r:
        return list(r["bpp"]), [-10 * math.log10(max(1 - m, 1e-10)) for m in r["ms-ssim-rgb"]]
    if key == "haarpsi" and "haarpsi" in r:
        return list(r["bpp"]), list(r["haarpsi"])
    return [], []


def _cut(xs: list[float], ys: list[float], x_max: float) -> tuple[list[float], list[float]]:
    """The part of a curve (by rising x) up to ``x_max``, ending on the segment that crosses
    it (interpolated), so the line runs to the plot's edge and no farther."""
    out_x, out_y = [], []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if x <= x_max:
            out_x.append(x)
            out_y.append(y)
            continue
        if i:
            x0, y0 = xs[i - 1], ys[i - 1]
            out_x.append(x_max)
            out_y.append(y0 + (y - y0) * (x_max - x0) / (x - x0))
        break
    return out_x, out_y
