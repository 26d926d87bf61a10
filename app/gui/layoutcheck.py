"""Find text that does not fit its widget (a label cut off, a spin box's digits clipped).

:func:`clipped_texts` walks the visible widgets of a window and compares what each needs
to show its whole text with the width it was given. The screenshots script reports what it
finds in every state, and a test requires none at 1280x720 and 1366x768.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QWidget

SLACK = 2  # pixels of rounding


def shiboken_valid(w: QWidget) -> bool:
    from shiboken6 import isValid

    return bool(isValid(w))


def clipped_texts(root: QWidget) -> list[str]:
    """``"objectName (Class): 'text' needs N px, has M"`` for every visible widget whose
    text is wider than the widget: plain one-line labels, buttons, spin boxes and combo
    boxes (rich-text and word-wrapped labels lay themselves out)."""
    out = []
    for w in [root, *root.findChildren(QWidget)]:
        if not shiboken_valid(w):
            continue
        if not w.isVisible() or w.width() <= 1 or not w.visibleRegion().boundingRect().width():
            continue
        need, text = _needed(w)
        if need is None:
            continue
        has = w.width()
        if need > has + SLACK:
            parent = w.parentWidget()
            name = (w.objectName() or parent.objectName()) if parent else ""
            out.append(f"{name} ({type(w).__name__}): {text!r} needs {need} px, has {has}")
    return out


def _looks_rich(text: str) -> bool:
    from PySide6.QtGui import Qt as GuiQt

    might = getattr(GuiQt, "mightBeRichText", None)
    return bool(might(text)) if might is not None else text.lstrip().startswith("<")


def _needed(w: QWidget) -> tuple[int | None, str]:
    if isinstance(w, QLabel):
        text = w.text()
        if not text or w.wordWrap() or w.pixmap() is not None and not w.pixmap().isNull():
            return None, text
        if w.textFormat() == Qt.TextFormat.RichText or (
                w.textFormat() == Qt.TextFormat.AutoText and _looks_rich(text)):
            return None, text
        m = w.contentsMargins()
        widest = max(w.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
        return widest + m.left() + m.right() + 2 * w.margin(), text
    if isinstance(w, QAbstractButton):
        return (w.sizeHint().width() if w.text() else None), w.text()
    if isinstance(w, QAbstractSpinBox):
        return w.minimumSizeHint().width(), w.text()
    if isinstance(w, QComboBox):
        return None, ""  # combo boxes elide by design; their pop-up shows the whole text
    return None, ""
