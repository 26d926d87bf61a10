"""Image panes: zoomable QGraphicsViews, side-by-side or swipe compare, kept in sync.

:class:`ImageCanvas` shows one image (plus an optional semi-transparent overlay, e.g. the
segmentation) with wheel zoom around the cursor, 1:1, fit and drag-to-pan.
:class:`SwipeCanvas` shows image A left of a draggable divider and image B right of it
(Squoosh's compare view). :class:`CompareView` holds panes A and B side by side and the
swipe canvas, and keeps zoom and pan identical in all of them.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

MIN_SCALE, MAX_SCALE = 1 / 32, 64.0


def to_pixmap(array: np.ndarray) -> QPixmap:
    """HxWx3 (or HxW, or HxWx4 with alpha) uint8 array -> QPixmap (copies the pixels)."""
    a = np.ascontiguousarray(array)
    if a.ndim == 2:
        a = np.ascontiguousarray(np.repeat(a[..., None], 3, axis=2))
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if a.shape[2] == 4 else QImage.Format.Format_RGB888
    image = QImage(a.data, w, h, a.strides[0], fmt)
    return QPixmap.fromImage(image.copy())


def _fit_caption(label: QLabel, text: str, width: int) -> None:
    """``text`` in ``label`` within ``width`` pixels (padding included): broken into
    lines between its `` · ``-separated parts when the pane is narrow (nothing is cut),
    and only a part wider than the pane by itself is elided; the whole text is then the
    tool tip."""
    margins = label.contentsMargins()
    pad = margins.left() + margins.right() + 16  # the style sheet's padding
    fm = label.fontMetrics()
    room = width - pad
    lines: list[str] = []
    if width > pad and fm.horizontalAdvance(text) > room:
        for part in text.split(" · "):
            joined = f"{lines[-1]} · {part}" if lines else part
            if lines and fm.horizontalAdvance(joined) <= room:
                lines[-1] = joined
            else:
                lines.append(part)
        lines = [fm.elidedText(line, Qt.TextElideMode.ElideRight, room) for line in lines]
    shown = "\n".join(lines) if lines else text
    label.setText(shown)
    label.setToolTip(text if shown.replace("\n", " · ") != text else "")
    label.adjustSize()


class ImageCanvas(QGraphicsView):
    """One zoomable, pannable image with an optional overlay and a caption."""

    view_changed = Signal()  # zoom or pan changed by the user (for synchronisation)
    hovered = Signal(int, int)  # image pixel under the mouse (-1, -1 when outside)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QColor(40, 40, 44))
        self.setMinimumSize(120, 120)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._scene.addItem(self.image_item)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setZValue(10)
        self.overlay_item.setOpacity(0.5)
        self._scene.addItem(self.overlay_item)
        self.caption = QLabel(self)
        self.caption.setObjectName(f"{name}Caption")
        self.caption.setStyleSheet(
            "QLabel { background: rgba(20,20,24,190); color: #f0f0f0; padding: 3px 7px;"
            " border-radius: 4px; }"
        )
        self.caption.move(8, 8)
        self.caption.hide()
        # why the overlay the user asked for cannot be drawn here (bottom left)
        self.note = QLabel(self)
        self.note.setObjectName(f"{name}Note")
        self.note.setStyleSheet(self.caption.styleSheet())
        self.note.setWordWrap(True)
        self.note.hide()
        self.placeholder = ""
        self._fit_pending = True
        self._fitted = True  # the view fits the pane: a resize fits it again
        self._syncing = False
        self.setMouseTracking(True)
        self.horizontalScrollBar().valueChanged.connect(self._user_changed)
        self.verticalScrollBar().valueChanged.connect(self._user_changed)

    # content
    def has_image(self) -> bool:
        return not self.image_item.pixmap().isNull()

    def set_image(self, array: np.ndarray | None) -> None:
        """Show ``array``; the zoom and pan stay unless the image size changes."""
        if array is None:
            old = self.image_item.pixmap().size()
            self.image_item.setPixmap(QPixmap())
            self.overlay_item.setPixmap(QPixmap())
            self._fit_pending = not old.isEmpty() or self._fit_pending
            self.viewport().update()
            return
        pix = to_pixmap(array)
        resized = pix.size() != self.image_item.pixmap().size()
        self.image_item.setPixmap(pix)
        if resized:
            self._scene.setSceneRect(QRectF(pix.rect()))
            self._fit_pending = True
            self.fit()

    def set_overlay(self, array: np.ndarray | None) -> None:
        self.overlay_item.setPixmap(QPixmap() if array is None else to_pixmap(array))

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay_item.setOpacity(float(opacity))

    def set_caption(self, text: str) -> None:
        """The caption, cut at its end with "…" when the pane is narrower (captions put
        their numbers first, so the setting goes before the dB value); the whole text is
        the tool tip."""
        self._caption_text = text
        _fit_caption(self.caption, text, self.viewport().width() - 16)
        self.caption.setVisible(bool(text))

    def set_note(self, text: str) -> None:
        """A line at the pane's foot (why the overlay cannot be drawn); "" hides it."""
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self._place_note()

    def _place_note(self) -> None:
        if not self.note.text():
            return
        width = max(self.viewport().width() - 16, 60)
        self.note.setFixedWidth(min(width, self.note.fontMetrics().horizontalAdvance(
            self.note.text()) + 24))
        self.note.adjustSize()
        self.note.move(8, max(self.viewport().height() - self.note.height() - 8, 8))

    # zoom
    def scale_factor(self) -> float:
        return float(self.transform().m11())

    def set_scale(self, s: float) -> None:
        s = min(max(s, MIN_SCALE), MAX_SCALE)
        self._fitted = False  # a zoom of the user's: kept on resize
        self.setTransform(QTransform.fromScale(s, s))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 1.0)
        self._emit()

    def zoom_by(self, factor: float) -> None:
        self.set_scale(self.scale_factor() * factor)

    def fit(self) -> None:
        rect = self._scene.sceneRect()
        if rect.isEmpty():
            return
        view = self.viewport().rect().adjusted(4, 4, -4, -4)
        s = min(view.width() / rect.width(), view.height() / rect.height())
        self.setTransform(QTransform.fromScale(s, s))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, s < 1.0)
        self.centerOn(rect.center())
        self._fit_pending = False
        self._fitted = True
        self._emit()

    def one_to_one(self) -> None:
        # 1:1 means one image pixel per device pixel (high-DPI screens included).
        center = self.mapToScene(self.viewport().rect().center())
        self.set_scale(1.0 / self.devicePixelRatioF())
        self.centerOn(center)
        self._emit()

    def center_scene(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def apply_view(self, scale: float, center: QPointF, fitted: bool = False) -> None:
        """Set zoom and centre without echoing :attr:`view_changed`; ``fitted``: the
        view follows a fitted one (and fits again on a resize)."""
        self._fitted = fitted
        self._syncing = True
        try:
            self.setTransform(QTransform.fromScale(scale, scale))
            self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
            self.centerOn(center)
            self._fit_pending = False
        finally:
            self._syncing = False

    # events
    def wheelEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015**delta)
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        if self._fit_pending or self._fitted:  # a fitted view stays fitted
            self.fit()
        _fit_caption(self.caption, getattr(self, "_caption_text", ""),
                     self.viewport().width() - 16)
        self._place_note()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().mouseMoveEvent(event)
        p = self.mapToScene(event.position().toPoint())
        size = self.image_item.pixmap().size()
        x, y = int(p.x() // 1), int(p.y() // 1)
        if 0 <= x < size.width() and 0 <= y < size.height():
            self.hovered.emit(x, y)
        else:
            self.hovered.emit(-1, -1)

    def leaveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().leaveEvent(event)
        self.hovered.emit(-1, -1)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:  # noqa: N802
        if self.has_image() or not self.placeholder:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(170, 170, 176))
        painter.drawText(self.viewport().rect().adjusted(12, 12, -12, -12),
                         int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                         self.placeholder)
        painter.restore()

    def _user_changed(self) -> None:
        self._emit()

    def _emit(self) -> None:
        if not self._syncing:
            self.view_changed.emit()


class SwipeCanvas(ImageCanvas):
    """A left of a vertical divider, B right of it; drag the divider (or press near it)."""

    divider_moved = Signal(float)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(name, parent)
        self._clip = QGraphicsRectItem()
        self._clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self._clip.setPen(QPen(Qt.PenStyle.NoPen))
        self._clip.setZValue(5)
        self._scene.addItem(self._clip)
        self.b_item = QGraphicsPixmapItem(self._clip)
        self.b_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        # per-side overlays (the error of each side's segmentation): B's lies over B's
        # part; A's overlay is clipped to A's part
        self.b_overlay = QGraphicsPixmapItem(self._clip)
        self.b_overlay.setOpacity(self.overlay_item.opacity())
        self._clip_a = QGraphicsRectItem()
        self._clip_a.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self._clip_a.setPen(QPen(Qt.PenStyle.NoPen))
        self._clip_a.setZValue(10)
        self._scene.addItem(self._clip_a)
        self.overlay_item.setParentItem(self._clip_a)
        pen = QPen(QColor(255, 255, 255, 230), 2)
        pen.setCosmetic(True)
        self._line = QGraphicsLineItem()
        self._line.setPen(pen)
        self._line.setZValue(20)
        self._scene.addItem(self._line)
        self._fraction = 0.5
        self._dragging = False
        self.caption_b = QLabel(self)
        self.caption_b.setObjectName(f"{name}CaptionB")
        self.caption_b.setStyleSheet(self.caption.styleSheet())
        self.caption_b.hide()

    def set_images(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        self.set_image(a)
        self.b_item.setPixmap(QPixmap() if b is None else to_pixmap(b))
        self._update_divider()

    def set_overlay(self, array: np.ndarray | None) -> None:
        self.set_overlays(array, array)

    def set_overlays(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        """A's overlay left of the divider, B's right of it."""
        self.overlay_item.setPixmap(QPixmap() if a is None else to_pixmap(a))
        self.b_overlay.setPixmap(QPixmap() if b is None else to_pixmap(b))

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay_item.setOpacity(float(opacity))
        self.b_overlay.setOpacity(float(opacity))

    def set_captions(self, a: str, b: str) -> None:
        half = self.viewport().width() // 2 - 16
        self._caption_text, self._caption_b_text = a, b
        _fit_caption(self.caption, a, half)
        self.caption.setVisible(bool(a))
        _fit_caption(self.caption_b, b, half)
        self.caption_b.setVisible(bool(b))
        self._place_caption_b()

    def fraction(self) -> float:
        return self._fraction

    def set_fraction(self, f: float) -> None:
        self._fraction = min(max(float(f), 0.0), 1.0)
        self._update_divider()
        self.divider_moved.emit(self._fraction)

    def _update_divider(self) -> None:
        rect = self.image_item.pixmap().rect()
        w, h = rect.width(), rect.height()
        x = self._fraction * w
        self._clip.setRect(QRectF(x, 0, max(w - x, 0), h))
        self._clip_a.setRect(QRectF(0, 0, x, h))
        self._line.setLine(x, 0, x, h)
        self._line.setVisible(w > 0)

    def _divider_view_x(self) -> float:
        w = self.image_item.pixmap().width()
        return self.mapFromScene(QPointF(self._fraction * w, 0)).x()

    def mousePressEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if (
            event.button() == Qt.MouseButton.LeftButton
            and self.has_image()
            and abs(event.position().x() - self._divider_view_x()) < 10
        ):
            self._dragging = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if self._dragging:
            w = self.image_item.pixmap().width() or 1
            x = self.mapToScene(event.position().toPoint()).x()
            self.set_fraction(x / w)
            event.accept()
            return
        near = self.has_image() and abs(event.position().x() - self._divider_view_x()) < 10
        self.viewport().setCursor(
            Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.OpenHandCursor
        )
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        if self._dragging:
            self._dragging = False
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt override
        super().resizeEvent(event)
        half = self.viewport().width() // 2 - 16
        _fit_caption(self.caption, getattr(self, "_caption_text", ""), half)
        _fit_caption(self.caption_b, getattr(self, "_caption_b_text", ""), half)
        self._place_caption_b()

    def _place_caption_b(self) -> None:
        self.caption_b.move(max(self.viewport().width() - self.caption_b.width() - 8, 8), 8)


class CompareView(QWidget):
    """Panes A and B side by side, or one swipe canvas; zoom and pan synchronised."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compareView")
        self.pane_a = ImageCanvas("paneA")
        self.pane_b = ImageCanvas("paneB")
        self.swipe = SwipeCanvas("swipeCanvas")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("compareSplitter")
        self.splitter.addWidget(self.pane_a)
        self.splitter.addWidget(self.pane_b)
        self.splitter.setHandleWidth(3)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.splitter)
        self.stack.addWidget(self.swipe)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        for canvas in self.canvases():
            canvas.view_changed.connect(lambda c=canvas: self._sync_from(c))

    def canvases(self) -> list[ImageCanvas]:
        return [self.pane_a, self.pane_b, self.swipe]

    def mode(self) -> str:
        return "swipe" if self.stack.currentWidget() is self.swipe else "side"

    def set_mode(self, mode: str) -> None:
        self.stack.setCurrentWidget(self.swipe if mode == "swipe" else self.splitter)

    def view_state(self) -> tuple[float, QPointF, bool] | None:
        """Zoom, centre and whether the view is fitted (then it fits again)."""
        c = self.active_canvas()
        return (c.scale_factor(), c.center_scene(), c._fitted) if c.has_image() else None

    def restore_view(self, state: tuple[float, QPointF, bool] | None) -> None:
        if state is not None:
            for c in self.canvases():
                c.apply_view(*state)
            if state[2]:  # a fitted view fits the canvas of the new mode
                self.fit()

    def active_canvas(self) -> ImageCanvas:
        return self.swipe if self.mode() == "swipe" else self.pane_a

    def visible_canvases(self) -> list[ImageCanvas]:
        return [self.swipe] if self.mode() == "swipe" else [self.pane_a, self.pane_b]

    def fit(self) -> None:
        for c in self.visible_canvases():
            c.fit()
        self._sync_from(self.active_canvas())

    def one_to_one(self) -> None:
        self.active_canvas().one_to_one()

    def zoom_by(self, f: float) -> None:
        self.active_canvas().zoom_by(f)

    def set_overlay(self, array: np.ndarray | None) -> None:
        for c in self.canvases():
            c.set_overlay(array)

    def set_overlays(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        """Each pane its own overlay (in swipe mode: A's left, B's right of the divider)."""
        self.pane_a.set_overlay(a)
        self.pane_b.set_overlay(b)
        self.swipe.set_overlays(a, b)

    def set_overlay_opacity(self, opacity: float) -> None:
        for c in self.canvases():
            c.set_overlay_opacity(opacity)

    def _sync_from(self, source: ImageCanvas) -> None:
        if source._syncing or source not in self.visible_canvases():
            return  # a hidden canvas (refitted on a resize) leads nothing
        scale, center = source.scale_factor(), source.center_scene()
        for c in self.canvases():
            if c is not source:
                c.apply_view(scale, center, source._fitted)
