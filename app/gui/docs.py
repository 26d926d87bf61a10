"""Help inside the window: the bundled documents (Markdown) and the shortcut list.

``Help ▸ File Format`` shows ``docs/edms-format.md`` and the About box links to the
README and the documents in ``docs/``, all in a :class:`DocViewer` (no web browser or
desktop launcher needed); links between the documents stay in the viewer.
``Help ▸ Keyboard Shortcuts`` lists the actions table (:func:`app.gui.actions.shortcut_rows`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {
    "README.md": "Overview (README)",
    "docs/edms-format.md": "The .edms file format",
    "docs/pipelines.md": "Pipelines",
    "docs/training.md": "Training",
    "docs/results.md": "Results",
}


def find_doc(name: str) -> Path | None:
    """A bundled document by its path in the source tree (``docs/edms-format.md``): the
    copy a wheel ships (:func:`app.shipped.shipped_path`, the format spec), else the
    source tree's; None when this installation has no such file."""
    from app.shipped import shipped_path

    for cand in (shipped_path(*Path(name).parts), ROOT / name):
        if cand.is_file():
            return cand
    return None


class DocViewer(QDialog):
    """A Markdown document, with links to the other bundled documents followed inside."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("docViewer")
        self.resize(820, 620)
        self.browser = QTextBrowser()
        self.browser.setObjectName("docBrowser")
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._follow)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)
        self.path: Path | None = None
        self.load(name)

    def load(self, name: str) -> bool:
        path = find_doc(name)
        if path is None:
            self.setWindowTitle("Document not found")
            self.browser.setPlainText(f"{name} is not part of this installation.")
            return False
        self.path = path
        self.setWindowTitle(DOCUMENTS.get(name, path.name))
        self.browser.setMarkdown(path.read_text(encoding="utf-8", errors="replace"))
        return True

    def _follow(self, url: QUrl) -> None:
        target = url.toString()
        if url.scheme() in ("http", "https", "mailto"):
            from PySide6.QtGui import QDesktopServices

            QDesktopServices.openUrl(url)
            return
        here = self.path.parent if self.path else ROOT
        local = (here / target.split("#")[0]).resolve()
        try:
            rel = str(local.relative_to(ROOT))
        except ValueError:
            rel = local.name
        self.load(rel)


class ShortcutList(QDialog):
    """Every keyboard shortcut of the window, from the actions table."""

    def __init__(self, rows: list[tuple[str, str, str]], parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutList")
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("shortcutTable")
        self.table.setHorizontalHeaderLabels(["Menu", "Command", "Keys"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        self.resize(560, 520)
