"""Layer inspector: every intermediate image a pipeline produced, plus the coded layers.

The views come from :attr:`app.pipelines.base.Encoded.views` (whatever keys the pipeline
fills: segmentation, compact image, upsampled image, FineNet output / prediction,
residual, the decoder's recomputed segmentation, ...), shown through
:func:`app.session.view_to_rgb`. The inspector adds the original, the decoded image and
an error heat map (|original - decoded|, computed here) for every pipeline.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.canvas import ImageCanvas, to_pixmap
from app.gui.panels import fmt_bytes
from app.session import Result, error_map, params_label, view_to_rgb
from app.workbench import layer_label


def _thumb(array: np.ndarray, size: int = 96) -> QIcon:
    h, w = array.shape[:2]
    step = max(1, int(max(h, w) / size))
    return QIcon(to_pixmap(np.ascontiguousarray(array[::step, ::step])))


class LayerInspector(QWidget):
    """Thumbnails of the layers/views (left), the selected one large, the byte table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("layerInspector")
        self.side = QComboBox()
        self.side.setObjectName("inspectorSide")
        self.side.addItem("Pane A result", "A")
        self.side.addItem("Pane B result", "B")
        self.side.setCurrentIndex(1)
        self.title = QLabel()
        self.title.setObjectName("inspectorTitle")
        self.list = QListWidget()
        self.list.setObjectName("inspectorList")
        self.list.setViewMode(QListWidget.ViewMode.ListMode)
        self.list.setIconSize(QSize(72, 54))
        self.list.setMinimumWidth(190)
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.canvas = ImageCanvas("inspectorCanvas")
        self.canvas.placeholder = "Run a pipeline to inspect its layers"
        self.layers = QTableWidget(0, 4)
        self.layers.setObjectName("layersTable")
        self.layers.setHorizontalHeaderLabels(["Layer", "Codec", "Bytes", "Share"])
        self.layers.verticalHeader().setVisible(False)
        self.layers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.layers.horizontalHeader().setStretchLastSection(True)
        self.layers.setMinimumWidth(330)
        top = QHBoxLayout()
        top.addWidget(QLabel("Inspect:"))
        top.addWidget(self.side)
        top.addWidget(self.title, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list)
        split.addWidget(self.canvas)
        split.addWidget(self.layers)
        split.setStretchFactor(1, 1)
        split.setSizes([200, 700, 340])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self._images: dict[str, np.ndarray] = {}
        self.list.currentItemChanged.connect(self._show_current)

    def names(self) -> list[str]:
        """The views listed, by their names in the pipeline (the list shows them for
        people: :func:`app.workbench.layer_label`)."""
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.list.count())]

    def set_result(self, original: np.ndarray | None, result: Result | None) -> None:
        item = self.list.currentItem()
        current = item.data(Qt.ItemDataRole.UserRole) if item is not None else ""
        self.list.blockSignals(True)
        self.list.clear()
        self._images = {}
        if result is None:
            self.title.setText("")
            self.layers.setRowCount(0)
            self.canvas.set_image(None)
            self.list.blockSignals(False)
            return
        label = params_label(result.params)
        self.title.setText(f"  {result.pipeline}  {label}")
        items: list[tuple[str, np.ndarray]] = []
        # a result decoded from an opened file has no original: its "original" is itself
        if result.from_file:
            original = None
        if original is not None:
            items.append(("original", original))
        for name, view in result.views.items():
            try:
                items.append((name, view_to_rgb(view)))
            except ValueError:
                continue
        items.append(("decoded", result.decoded))
        if original is not None and original.shape == result.decoded.shape:
            items.append(("error map ×4", error_map(original, result.decoded)))
        for name, rgb in items:
            self._images[name] = rgb
            item = QListWidgetItem(_thumb(rgb), layer_label(name))
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(f"{layer_label(name)} ({name}): {rgb.shape[1]}×{rgb.shape[0]}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        names = self.names()
        pick = current if current in names else ("decoded" if "decoded" in names else names[0])
        self.list.setCurrentRow(names.index(pick))
        self._show_current()
        total = result.file_bytes
        rows = [(lay.kind, lay.codec, lay.bytes) for lay in result.layers]
        rows.append(("header", "", result.file_bytes - result.payload_bytes))
        self.layers.setRowCount(len(rows) + 1)
        for i, (kind, codec, n) in enumerate([*rows, ("total", "", total)]):
            share = f"{100.0 * n / total:.1f} %" if total else ""
            for j, text in enumerate((layer_label(kind), codec, fmt_bytes(n), share)):
                cell = QTableWidgetItem(text)
                if j >= 2:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.layers.setItem(i, j, cell)

    def _show_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.canvas.set_image(self._images.get(item.data(Qt.ItemDataRole.UserRole)))
