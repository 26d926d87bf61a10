"""The window's messages and small dialogs: errors, About, the bundled documents, the
keyboard shortcuts, Settings ▸ Maximum Image Size."""

from __future__ import annotations

from typing import cast

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QInputDialog, QLabel, QMainWindow, QMessageBox, QWidget

from app import __version__
from app.gui.actions import shortcut_rows
from app.gui.statusbar import StatusBar
from app.workbench import Workbench


class Prompts:
    """Error dialogs (each one recorded in :attr:`errors`), About, documents, settings."""

    def __init__(self, window: QMainWindow, status: StatusBar, model: Workbench,
                 settings: QSettings) -> None:
        self.window, self.status, self.model, self.settings = window, status, model, settings
        self.errors: list[str] = []
        self.about_box: QMessageBox | None = None
        self.doc_viewer: QWidget | None = None
        self.shortcut_list: QWidget | None = None

    def refocus(self) -> None:
        """Give the keyboard back to the window after a modal dialog (without a window
        manager nobody else does, and the shortcuts would wait for a click)."""
        self.window.activateWindow()
        self.window.raise_()
        self.window.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def show_error(self, message: str, title: str = "EDMS Workbench") -> None:
        self.errors.append(message)
        self.status.showMessage(message.splitlines()[0], 8000)
        QMessageBox.critical(self.window, title, message)
        self.refocus()

    def about(self) -> None:
        from app.gui.docs import DOCUMENTS

        box = QMessageBox(self.window)
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
        self.about_box = box
        box.open()

    def show_doc(self, name: str) -> None:
        """A bundled document in a viewer inside the window (no launcher needed)."""
        from app.gui.docs import DocViewer

        viewer = DocViewer(name, self.window)
        self.doc_viewer = viewer
        viewer.show()

    def open_format_spec(self) -> None:
        """Help ▸ File Format: the bundled ``.edms`` specification."""
        self.show_doc("docs/edms-format.md")

    def show_shortcuts(self) -> None:
        from app.gui.docs import ShortcutList

        dialog = ShortcutList(shortcut_rows(), self.window)
        self.shortcut_list = dialog
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
            self.window, "Maximum image size",
            "Largest image to open, in megapixels (memory grows with it: about 60 bytes "
            "per pixel while a learned pipeline runs):", self.max_pixels() // 1_000_000,
            1, 1000, 16)
        self.refocus()
        if ok:
            self.settings.setValue("maxPixels", int(mp) * 1_000_000)
            self.status.showMessage(f"Images up to {mp} megapixels will open", 5000)
