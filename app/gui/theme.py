"""Light and dark palettes that follow the system colour scheme (Fusion style).

Qt 6.5+ reports the system scheme through ``QStyleHints.colorScheme()`` and signals
changes; Fusion does not always switch its palette by itself on Linux, so we set one.
``EDMS_THEME=light|dark`` forces a scheme (screenshots use it).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def dark_palette() -> QPalette:
    p = QPalette()
    # Inputs (Base) a little lighter than the window, as in macOS's and GNOME's dark
    # themes: Fusion draws check boxes with the Base fill and a darker-than-window
    # outline, which would vanish if Base were darker than the window.
    base, window, text = QColor(54, 56, 60), QColor(40, 42, 45), QColor(223, 225, 229)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(60, 62, 67),
        QPalette.ColorRole.ToolTipBase: QColor(60, 63, 66),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(155, 158, 164),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(62, 65, 70),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: QColor(53, 116, 240),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(100, 160, 255),
        QPalette.ColorRole.Mid: QColor(70, 72, 76),
        QPalette.ColorRole.Dark: QColor(25, 26, 28),
        QPalette.ColorRole.Light: QColor(80, 83, 87),
    }
    for role, colour in roles.items():
        p.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 126))
    return p


def is_dark() -> bool:
    forced = os.environ.get("EDMS_THEME", "").lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication) -> None:
    """Fusion style with a palette matching the system scheme; re-applied on change."""
    app.setStyle("Fusion")

    def update(*_args: object) -> None:
        app.setPalette(dark_palette() if is_dark() else app.style().standardPalette())

    update()
    app.styleHints().colorSchemeChanged.connect(update)
