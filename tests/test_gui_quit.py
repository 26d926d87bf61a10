"""Quitting the window is clean: a subprocess opens a folder of many images, shows each
(so each starts an encode) and quits while the worker is busy; it must exit with status 0
and no ``Fatal Python error`` (PySide6 6.12 on Python 3.11 aborted with ``none_dealloc``,
see :mod:`app.gui.nonefix`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

ROOT = Path(__file__).resolve().parents[1]

QUIT_SCRIPT = textwrap.dedent("""
    import sys, tempfile
    from pathlib import Path
    from PySide6.QtCore import QSettings, QTimer
    import app.gui.main_window as mw

    init = mw.MainWindow.__init__
    state = {"worked": False}

    def scripted(self, settings=None):
        ini = Path(tempfile.mkdtemp()) / "quit.ini"
        init(self, QSettings(str(ini), QSettings.Format.IniFormat))

        def tick():
            n = int(sys.argv[2])
            if self.ready and self.image_combo.count() >= n and state.get("shown", 0) < n:
                self.next_image(1)  # look at every image (each one starts an encode)
                state["shown"] = state.get("shown", 0) + 1
                QTimer.singleShot(0, tick)
                return
            busy = self.worker.busy or self.worker.pending()
            if state.get("shown", 0) >= n and busy:
                state["worked"] = True
                self.close()  # File > Quit while a job runs
            else:
                QTimer.singleShot(20, tick)

        QTimer.singleShot(20, tick)

    mw.MainWindow.__init__ = scripted
    code = mw.run_app(["edms-workbench", sys.argv[1]])
    print("worked" if state["worked"] else "idle")
    sys.exit(code)
""")


def test_quit_after_opening_a_folder_and_starting_work(tmp_path) -> None:
    from PIL import Image

    n = 320
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(
            tmp_path / f"img{i:03d}.png")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", QUIT_SCRIPT, str(tmp_path), str(n)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "Fatal" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("worked")  # it quit while the worker had work


def test_many_void_qt_calls_do_not_free_none(tmp_path) -> None:
    code = textwrap.dedent("""
        from PySide6.QtWidgets import QApplication, QLabel
        from app.gui.nonefix import protect_none
        protect_none()
        app = QApplication([])
        label = QLabel()
        for _ in range(300_000):
            label.setText("x")  # returns None; PySide6 6.12 drops a reference to it
        print("ok")
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
