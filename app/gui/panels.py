"""Side panels A and B (source, parameters, numbers), the results table, the legend."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.worker import PipelineInfo
from app.session import CAMVID_CLASSES, CAMVID_PALETTE, Result, classes_text, params_label
from app.workbench import layer_label

ORIGINAL = ""  # source value of "Original"


def fmt_bytes(n: int) -> str:
    if n < 10_000:
        return f"{n:,} B"
    if n < 10_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1e6:.2f} MB"


def fmt_num(x: float, digits: int = 2, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "…"
    if math.isinf(x):
        return "∞" + (f" {unit}" if unit else "")
    return f"{x:.{digits}f}" + (f" {unit}" if unit else "")


def fmt_time(s: float) -> str:
    if s is None or math.isnan(s):
        return "—"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def _measure(value: float, result: Result) -> str:
    """A metric of a result: "…" while it is computed, "—" where there is none (a file
    has no original), "stopped" when Cancel stopped it."""
    if result.from_file:
        return "—"
    if math.isnan(value) and result.stopped:
        return "stopped"
    return fmt_num(value, 4)


def _cell(value: float, digits: int, result: Result) -> str:
    """A metric in the results table: "…" only while it is being computed; "—" where
    there is none (a file has no original) or it never will be (stopped, superseded)."""
    if math.isnan(value) and (result.from_file or result.stopped or result.metrics_done):
        return "—"
    return fmt_num(value, digits)


class ParamRow(QWidget):
    """Slider + spin box for one integer ParamSpec (kept in step).

    A spec with a discrete ``values`` list (SMIC's sampling factor 2/4/8/16) gets a slider
    over the positions of the allowed values and a combo box instead of the spin box.
    """

    changed = Signal()

    def __init__(self, side: str, spec: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.values: list[int] = [int(v) for v in spec.get("values") or []]
        # names of the integer values 0..n-1 (a tuning: psnr | visual), shown by name
        choices = [str(c) for c in spec.get("choices") or []]
        if choices and not self.values:
            self.values = list(range(len(choices)))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName(f"param{side}_{spec['name']}_slider")
        if self.values:
            rng = "/".join(map(str, self.values))
            self.slider.setRange(0, len(self.values) - 1)
            self.slider.setPageStep(1)
            self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
            combo = QComboBox()
            for v in self.values:
                combo.addItem(choices[v] if 0 <= v < len(choices) else str(v), v)
            if choices:
                rng = "|".join(choices)
            self.spin: QComboBox | QSpinBox = combo
        else:
            rng = f"{spec['minimum']}..{spec['maximum']}"
            self.slider.setRange(spec["minimum"], spec["maximum"])
            self.slider.setPageStep(max(1, (spec["maximum"] - spec["minimum"]) // 10))
            spin = QSpinBox()
            spin.setRange(spec["minimum"], spec["maximum"])
            spin.setKeyboardTracking(False)
            self.spin = spin
        self.spin.setObjectName(f"param{side}_{spec['name']}")
        self.set_value(spec["default"])
        # never narrower than its widest value: a squeezed dock clips the slider instead
        self.spin.setMinimumWidth(max(64, self.spin.sizeHint().width()))
        setting = choices or not spec.get("rate", True)  # not a rate knob
        default = (choices[spec["default"]] if choices and 0 <= spec["default"] < len(choices)
                   else spec["default"])
        tip = (f"{spec['label']}: {rng}, default {default}"
               + (" (not a rate knob)" if setting else
                  " (higher = better quality)" if spec["higher_is_better"] else
                  " (lower = better quality)"))
        self.slider.setToolTip(tip)
        self.spin.setToolTip(tip)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        if setting and self.values:  # a setting (a tuning): the combo box alone, no scale
            self.slider.hide()
            lay.addStretch(1)
        self.slider.valueChanged.connect(self._from_slider)
        if isinstance(self.spin, QComboBox):  # exactly when there are discrete values
            self.spin.currentIndexChanged.connect(self._from_spin)
        else:
            self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> int:
        if isinstance(self.spin, QComboBox):
            return self.values[max(0, self.spin.currentIndex())]
        return int(self.spin.value())

    def set_value(self, v: int) -> None:
        pairs: tuple[tuple[QWidget, Callable[[int], None], int], ...]
        if isinstance(self.spin, QComboBox):
            idx = self.values.index(int(v)) if int(v) in self.values else 0
            pairs = ((self.slider, self.slider.setValue, idx),
                     (self.spin, self.spin.setCurrentIndex, idx))
        else:
            pairs = ((self.slider, self.slider.setValue, int(v)),
                     (self.spin, self.spin.setValue, int(v)))
        for w, setter, value in pairs:
            w.blockSignals(True)
            setter(value)
            w.blockSignals(False)

    def _from_slider(self, v: int) -> None:
        self.spin.blockSignals(True)
        if isinstance(self.spin, QComboBox):
            self.spin.setCurrentIndex(v)
        else:
            self.spin.setValue(v)
        self.spin.blockSignals(False)
        self.changed.emit()

    def _from_spin(self, v: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(v)  # the combo's index is the slider position
        self.slider.blockSignals(False)
        self.changed.emit()


class SidePanel(QWidget):
    """Settings and numbers of one pane: source (Original or a pipeline) and parameters."""

    changed = Signal(str)  # side: the user chose another setting (show it)
    edited = Signal(str)  # side: the setting changed, by the user or by code

    def __init__(self, side: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.setObjectName(f"panel{side}")
        self.catalog: dict[str, PipelineInfo] = {}
        self.rows: dict[str, ParamRow] = {}
        lay = QVBoxLayout(self)
        self.source = QComboBox()
        self.source.setObjectName(f"source{side}")
        self.source.addItem("Original", ORIGINAL)
        self.source.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(14)
        lay.addWidget(self.source)
        self.description = QLabel()
        self.description.setObjectName(f"description{side}")
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(self.description)
        self.params_box = QWidget()
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setContentsMargins(0, 0, 0, 0)
        self.params_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        lay.addWidget(self.params_box)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        lay.addWidget(line)
        self._build_numbers(lay)
        lay.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMinimumWidth(230)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.show_numbers(None)

    # catalog
    def set_catalog(self, infos: list[PipelineInfo]) -> None:
        self.catalog = {i.name: i for i in infos}
        current = self.pipeline()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItem("Original", ORIGINAL)
        for info in infos:
            self.source.addItem(info.name, info.name)
            idx = self.source.count() - 1
            self.source.setItemData(idx, info.description or info.error,
                                    Qt.ItemDataRole.ToolTipRole)
            if info.error:
                # a QComboBox's own model is a QStandardItemModel
                item = cast(QStandardItemModel, self.source.model()).item(idx)
                item.setEnabled(False)
        i = self.source.findData(current)
        self.source.setCurrentIndex(max(i, 0))
        self.source.blockSignals(False)
        self._rebuild_params()
        self.edited.emit(self.side)

    def mark_unavailable(self, name: str, why: str) -> None:
        """Grey out a pipeline that cannot be loaded here (it stays selectable to read why)."""
        i = self.source.findData(name)
        if i < 0:
            return
        self.source.setItemText(i, f"{name} (unavailable)")
        self.source.setItemData(i, why, Qt.ItemDataRole.ToolTipRole)
        if name in self.catalog:
            self.catalog[name].error = why

    def pipeline(self) -> str:
        return self.source.currentData() or ORIGINAL

    def params(self) -> dict[str, int]:
        return {name: row.value() for name, row in self.rows.items()}

    def set_source(self, pipeline: str, params: dict[str, int] | None = None,
                   emit: bool = True) -> None:
        i = self.source.findData(pipeline or ORIGINAL)
        if i < 0:
            return
        self.source.blockSignals(True)
        self.source.setCurrentIndex(i)
        self.source.blockSignals(False)
        self._rebuild_params()
        if params:
            self.set_params(params)
        self.edited.emit(self.side)
        if emit:
            self.changed.emit(self.side)

    def set_params(self, params: dict[str, int]) -> None:
        for k, v in params.items():
            if k in self.rows:
                self.rows[k].set_value(v)
        self.edited.emit(self.side)

    def set_params_enabled(self, on: bool, why: str = "") -> None:
        """Enable the parameter controls, or disable them saying ``why`` (tool tip)."""
        self.params_box.setEnabled(on)
        self.params_box.setToolTip("" if on else why)

    def _source_changed(self) -> None:
        self._rebuild_params()
        self.edited.emit(self.side)
        self.changed.emit(self.side)

    def _row_changed(self) -> None:
        self.edited.emit(self.side)
        self.changed.emit(self.side)

    def _rebuild_params(self) -> None:
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.rows = {}
        info = self.catalog.get(self.pipeline())
        self.description.setText(info.description if info else "The image as loaded.")
        if info is None:
            return
        for spec in info.params:
            row = ParamRow(self.side, spec)
            row.changed.connect(self._row_changed)
            self.rows[spec["name"]] = row
            label = QLabel(f"{spec['label']}")  # a long label wraps, never cut
            label.setObjectName(f"paramLabel{self.side}_{spec['name']}")
            label.setWordWrap(True)
            self.params_form.addRow(label, row)

    # numbers
    NUMBER_KEYS = (("file", "File size"), ("bpp", "bpp"), ("psnr", "PSNR"),
                   ("ms_ssim", "MS-SSIM"), ("haarpsi", "HaarPSI"), ("encode", "Encode"),
                   ("decode", "Decode"))

    def _build_numbers(self, lay: QVBoxLayout) -> None:
        box = QWidget()
        box.setObjectName(f"numbers{self.side}")
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(3)
        self.value_labels: dict[str, QLabel] = {}
        mono = self.font()
        mono.setStyleHint(mono.StyleHint.Monospace)
        for i, (key, text) in enumerate(self.NUMBER_KEYS):
            grid.addWidget(QLabel(text), i, 0)
            value = QLabel("—")
            value.setObjectName(f"value{self.side}_{key}")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            f = value.font()
            f.setBold(True)
            value.setFont(f)
            grid.addWidget(value, i, 1)
            self.value_labels[key] = value
        grid.setColumnStretch(1, 1)
        lay.addWidget(box)
        self.numbers_box = box
        self.classes_label = QLabel()
        self.classes_label.setObjectName(f"classes{self.side}")
        self.classes_label.setWordWrap(True)
        self.classes_label.setToolTip("The classes the file carries (most likely first), "
                                      "read from the bitstream, not from the image")
        lay.addWidget(self.classes_label)
        self.accuracy_label = QLabel()
        self.accuracy_label.setObjectName(f"accuracy{self.side}")
        self.accuracy_label.setWordWrap(True)
        self.accuracy_label.setToolTip(
            "Accuracy for machines against the image's ground truth: the reference network "
            "(SegNet, or the Imagenette classifier) run on what this pane shows, and the "
            "semantics the file carries itself")
        lay.addWidget(self.accuracy_label)
        self.layers_title = QLabel("<b>Bytes per layer</b>")
        lay.addWidget(self.layers_title)
        self.layers_label = QLabel()
        self.layers_label.setObjectName(f"layers{self.side}")
        self.layers_label.setTextFormat(Qt.TextFormat.RichText)
        self.layers_label.setWordWrap(True)
        lay.addWidget(self.layers_label)
        self.note = QLabel()
        self.note.setObjectName(f"note{self.side}")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        lay.addWidget(self.note)

    def show_numbers(self, result: Result | None, note: str = "", accuracy: str = "") -> None:
        values = dict.fromkeys(self.value_labels, "—")
        self.numbers_box.setVisible(result is not None)
        self.layers_title.setVisible(result is not None)
        self.layers_label.setVisible(result is not None)
        if result is not None:
            values.update(
                file=fmt_bytes(result.file_bytes),
                bpp=fmt_num(result.bpp, 4),
                psnr=fmt_num(result.psnr, 2, "dB") if not math.isnan(result.psnr) else "—",
                ms_ssim=_measure(result.ms_ssim, result),
                haarpsi=_measure(result.haarpsi, result),
                encode=fmt_time(result.encode_s),
                decode=fmt_time(result.decode_s),
            )
            header = result.file_bytes - result.payload_bytes
            rows = [(lay.kind, lay.codec, lay.bytes) for lay in result.layers]
            rows.append(("header", "", header))
            html = "<table cellspacing='0' cellpadding='1' width='100%'>"
            for kind, codec, n in rows:
                share = 100.0 * n / max(result.file_bytes, 1)
                codec_txt = f" <small>({codec})</small>" if codec else ""
                html += (f"<tr><td>{layer_label(kind)}{codec_txt}</td>"
                         f"<td align='right'>{fmt_bytes(n)}</td>"
                         f"<td align='right'>&nbsp;{share:.0f}%</td></tr>")
            html += "</table>"
            self.layers_label.setText(html)
            if result.prepare_cached and result.prepare_s > 0.05 and not note:
                note = (f"Rate-independent analysis reused (took "
                        f"{fmt_time(result.prepare_s)} once).")
        for key, text in values.items():
            self.value_labels[key].setText(text)
        ranked = classes_text(result.views) if result is not None else ""
        self.classes_label.setText(f"<b>Classes</b>: {ranked}" if ranked else "")
        self.classes_label.setVisible(bool(ranked))
        self.accuracy_label.setText(accuracy)
        self.accuracy_label.setVisible(bool(accuracy))
        self.note.setText(note)
        self.note.setVisible(bool(note))


RESULT_COLUMNS = ("Pipeline", "Parameters", "Size", "bpp", "PSNR (dB)", "MS-SSIM", "HaarPSI",
                  "Encode", "Decode", "Layers (bytes)")


class ResultsTable(QTableWidget):
    """Every result of the current image, one row each; double-click shows it in B."""

    activated_result = Signal(object)  # Result

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(RESULT_COLUMNS), parent)
        self.setObjectName("resultsTable")
        self.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setSortingEnabled(False)
        self._results: list[Result] = []
        self.cellDoubleClicked.connect(self._activated)

    def set_results(self, results: list[Result]) -> None:
        self._results = list(results)
        self.setRowCount(len(results))
        for i, r in enumerate(results):
            cells = [
                r.pipeline + (" (file)" if r.from_file else ""),
                params_label(r.params),
                fmt_bytes(r.file_bytes),
                fmt_num(r.bpp, 4),
                _cell(r.psnr, 2, r),
                _cell(r.ms_ssim, 4, r),
                _cell(r.haarpsi, 4, r),
                fmt_time(r.encode_s),
                fmt_time(r.decode_s),
                ", ".join(f"{lay.kind} {lay.bytes}" for lay in r.layers),
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 2 <= j <= 8:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, j, item)

    def _activated(self, row: int, _col: int) -> None:
        if 0 <= row < len(self._results):
            self.activated_result.emit(self._results[row])


class Legend(QWidget):
    """CamVid class colours and names (for the segmentation overlay)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segLegend")
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 2, 6, 2)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        cols = 6
        for i, (name, rgb) in enumerate(zip(CAMVID_CLASSES, CAMVID_PALETTE, strict=True)):
            swatch = QLabel()
            pix = QPixmap(14, 14)
            pix.fill(QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
            swatch.setPixmap(pix)
            label = QLabel(f"{i} {name}")
            cell = QHBoxLayout()
            cell.setSpacing(4)
            cell.addWidget(swatch)
            cell.addWidget(label)
            cell.addStretch(1)
            grid.addLayout(cell, i // cols, i % cols)


class ErrorScale(QWidget):
    """The error map's colour bar: the "hot" colours against |original − decoded| (the
    largest difference over R, G, B, in 8-bit levels), as :func:`app.session.error_map`
    draws them (×``gain``, so ``256 / gain`` levels and more are white)."""

    def __init__(self, gain: float = 4.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorScale")
        self.gain = gain
        self.peak = 0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(8)
        self.title = QLabel("Error |original − decoded|, 8-bit levels:")
        self.bar = QLabel()
        self.bar.setObjectName("errorScaleBar")
        self.peak_label = QLabel()
        self.peak_label.setObjectName("errorScalePeak")
        lay.addWidget(self.title)
        lay.addWidget(self.bar)
        lay.addWidget(self.peak_label)
        lay.addStretch(1)
        self._draw()

    def set_peak(self, peak: int) -> None:
        """The largest error of the shown results (0: nothing compared)."""
        self.peak = int(peak)
        self.peak_label.setText(f"largest: {self.peak}" if self.peak else "")

    def _draw(self) -> None:
        from PySide6.QtGui import QFont, QPainter

        from app.session import error_map

        top = int(round(256 / self.gain))  # the first level drawn white
        width, bar_h, text_h = 320, 12, 14
        levels = np.minimum((np.arange(width) * top / (width - 1)).round(), 255)
        ramp = error_map(np.zeros((1, width, 3), np.uint8),
                         np.repeat(levels.astype(np.uint8)[None, :, None], 3, 2),
                         self.gain)
        pix = QPixmap(width, bar_h + text_h)
        pix.fill(self.palette().window().color())
        from app.gui.canvas import to_pixmap

        p = QPainter(pix)
        p.drawPixmap(0, 0, width, bar_h, to_pixmap(np.repeat(ramp, bar_h, 0)))
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.0))
        p.setFont(font)
        p.setPen(self.palette().text().color())
        ticks = [0, top // 4, top // 2, 3 * top // 4, top]
        for v in ticks:
            x = int(v / top * (width - 1))
            p.drawLine(x, bar_h - 3, x, bar_h)
            text = f"≥{v}" if v == top else str(v)
            w = p.fontMetrics().horizontalAdvance(text)
            p.drawText(min(max(x - w // 2, 0), width - w), bar_h + text_h - 2, text)
        p.end()
        self.bar.setPixmap(pix)
        self.bar.setToolTip(f"Black: no difference; white: {top} levels or more "
                            f"(the map shows the difference ×{self.gain:g})")
