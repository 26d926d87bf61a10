"""The window as a whole: no torch in the GUI modules, the entry point, settings, the first
size and layout, help, text that fits.

Driven headless with pytest-qt (QT_QPA_PLATFORM=offscreen); the window, its fakes
and helpers are in :mod:`tests.guikit`.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

pytest.importorskip("pytestqt")
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.guikit import (  # noqa: E402
    ROOT,
    _add,
    _set,
    synthetic,
)


def test_gui_modules_do_not_import_torch() -> None:
    code = ("import sys; import app.gui.main_window, app.gui.main, app.gui.files, "
            "app.gui.screenshots, app.gui.actions, app.gui.statusbar, app.session, "
            "app.workbench; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_main_entry_point_help() -> None:
    out = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert "edms-workbench" in out


def test_settings_persist(win) -> None:
    win.panel_b.set_source("jpeg", {"q": 42}, emit=False)
    win.save_settings()
    s = win.settings
    assert s.value("paneB/pipeline") == "jpeg"
    assert '"q": 42' in s.value("paneB/params")
    assert s.value("geometry") is not None


def test_first_window_fits_the_available_screen_and_views_refit(win, tmp_path) -> None:
    """With fresh settings the window opens inside the screen's available geometry (the
    offscreen screen is small), and a fitted view fits again after a resize."""
    from app.gui.main_window import MainWindow

    fresh = MainWindow(QSettings(str(tmp_path / "fresh.ini"), QSettings.Format.IniFormat))
    try:
        fresh.show()
        QApplication.processEvents()
        avail = fresh.screen().availableGeometry()
        assert avail.contains(fresh.geometry()), (avail, fresh.geometry())
        assert fresh.width() <= avail.width() and fresh.height() <= avail.height()
    finally:
        fresh.shutdown()
        fresh.close()
        fresh.deleteLater()
    _add(win, "refit", synthetic(120, 160, 12))
    win.compare.fit()
    before = win.compare.pane_a.scale_factor()
    size = win.size()
    try:
        win.resize(size.width() + 300, size.height() + 200)
        QApplication.processEvents()
        assert win.compare.pane_a.scale_factor() > before  # refitted, no Ctrl+0 needed
        win.compare.pane_a.set_scale(3.0)  # the user's zoom is kept on a resize
        win.resize(size)
        QApplication.processEvents()
        assert math.isclose(win.compare.pane_a.scale_factor(), 3.0)
    finally:
        win.resize(size)
        win.compare.fit()


def test_help_shows_the_format_spec_shortcuts_and_documentation_links(win) -> None:
    from app.gui.docs import DocViewer, ShortcutList

    win.open_format_spec()
    viewer = win.prompts.doc_viewer
    assert isinstance(viewer, DocViewer) and viewer.isVisible()
    assert ".edms" in viewer.browser.toPlainText() and viewer.path.name == "edms-format.md"
    viewer.close()
    win.show_shortcuts()
    table = win.prompts.shortcut_list.table
    rows = {(table.item(i, 1).text(), table.item(i, 2).text()) for i in range(table.rowCount())}
    assert ("Cancel", "Esc") in rows and ("Open", "Ctrl+O") in rows
    assert isinstance(win.prompts.shortcut_list, ShortcutList)
    win.prompts.shortcut_list.close()
    win.about()
    box = win.prompts.about_box
    assert "docs/edms-format.md" in box.text() and "README.md" in box.text()
    box.close()
    win.show_doc("no/such.md")
    assert "not part of this installation" in win.prompts.doc_viewer.browser.toPlainText()
    win.prompts.doc_viewer.close()


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_no_text_is_cut_off_at_laptop_sizes(win, size) -> None:  # noqa: ANN001
    from app.gui.layoutcheck import clipped_texts

    old = win.size()
    win.resize(*size)
    try:
        _add(win, "a-rather-long-photo-name-from-a-camera-0001.png", synthetic(80, 120, 41))
        win.panel_a.set_source("test-layered", {"qp": 20, "s": 2}, emit=False)
        win.request("A")
        _set(win, "B", "hevc", qp=37)
        win.status.set_latency(1.234, False, 120)
        win.pixel_label.setText(win.model.pixel_text(79, 119) or "(119, 79)  orig 255,255,255")
        win.status.job_started("smic factor=8, qp=37", 0)
        win.status.stage("synthesis", 5, 12)
        for _ in range(5):
            QApplication.processEvents()
        assert clipped_texts(win) == []
        win.dock_inspector.raise_()
        win.pane_views.refresh_inspector()
        QApplication.processEvents()
        assert clipped_texts(win) == []
        # captions keep their dB value in a narrow pane
        win.compare.pane_b.resize(260, 200)
        win.pane_views.set_caption("B")
        assert "dB" in win.compare.pane_b.caption.text()
    finally:
        win.status.idle()
        win.dock_rd.raise_()
        win.panel_a.set_source("", emit=False)
        win.request("A")
        win.panel_b.set_source("", emit=False)
        win.resize(old)


def test_panel_numbers_scroll_in_a_low_window(win) -> None:
    old = win.size()
    win.resize(1280, 640)
    try:
        _add(win, "low", synthetic(40, 48, 42))
        _set(win, "B", "test-layered", qp=20, s=2)
        QApplication.processEvents()
        area = win.dock_b.widget()
        assert area.widget() is win.panel_b
        if win.panel_b.sizeHint().height() > area.viewport().height():
            assert area.verticalScrollBar().maximum() > 0
        # every number can be scrolled into view
        label = win.panel_b.value_labels["decode"]
        area.ensureWidgetVisible(label)
        QApplication.processEvents()
        assert not label.visibleRegion().isEmpty()
    finally:
        win.panel_b.set_source("", emit=False)
        win.resize(old)

