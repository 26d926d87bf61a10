"""The window's status bar: job stage and progress, Cancel, pixel, zoom, latency, device.

A widget of its own (napari keeps its status bar apart from the viewer too); the window
calls its methods when the worker reports, and connects :attr:`StatusBar.cancel_button`.
Long work shows the percent done of the current pass (tiles of a network pass, points of
a sweep) and an estimate of the time left (:class:`Eta`). Everything fits a 1280-pixel
wide window: the read-outs are short and their long forms are tool tips.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget


class Eta:
    """Percent done and time left of one pass (a stage with ``total`` units), from the
    pace so far. Plain Python, so it is tested without a display."""

    def __init__(self, clock=time.monotonic) -> None:  # noqa: ANN001 - a callable
        self._clock = clock
        self._key: tuple[str, int] | None = None
        self._t0 = 0.0

    def text(self, stage: str, done: int, total: int) -> str:
        """``"3 of 12 (25 %), about 40 s left"``; empty for an unknown total."""
        if total <= 0:
            self._key = None
            return ""
        now = self._clock()
        if self._key != (stage, total) or done <= 0:
            self._key, self._t0 = (stage, total), now
            self._done0 = max(done, 0)
        pct = 100.0 * done / total
        out = f"{done} of {total} ({pct:.0f} %)"
        units = done - self._done0
        if 0 < units and done < total:
            left = (now - self._t0) / units * (total - done)
            out += f", about {_duration(left)} left"
        return out


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class StatusBar(QStatusBar):
    """Stage text (stretching), then pixel, zoom, latency, progress, Cancel and device."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.stage_label = _label("stageLabel")
        self.stage_label.setMinimumWidth(120)
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setFixedWidth(110)
        self.progress.setMaximumHeight(16)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job after its current tile or stage "
                                      "(Esc)")
        self.cancel_button.setEnabled(False)
        self.zoom_label = _label("zoomLabel",
                                 "Zoom (image pixels per screen pixel); Ctrl+0 fit, Ctrl+1 1:1")
        self.pixel_label = _label("pixelLabel",
                                  "Pixel under the mouse: original and the two panes")
        self.latency_label = _label("latencyLabel")
        self.device_label = _label("deviceLabel")
        self.device_label.setText("starting…")
        self.addWidget(self.stage_label, 1)
        for w in (self.pixel_label, self.zoom_label, self.latency_label, self.progress,
                  self.cancel_button, self.device_label):
            self.addPermanentWidget(w)
        self._job = ""
        self.eta = Eta()

    def job_started(self, what: str, total: int = 0) -> None:
        """A job starts: its description, a busy bar (or 0/``total`` steps), Cancel on."""
        self._job = what
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, max(total, 1) if total else 0)
        self.progress.setValue(0)
        self._set_stage(what)

    def stage(self, stage: str, done: int = 0, total: int = 0) -> None:
        """The running job reached ``stage``; ``done`` of ``total`` units when known."""
        eta = self.eta.text(stage, done, total)
        self._set_stage(f"{self._job} — {stage}" + (f": {eta}" if eta else "…"))
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)

    def cancelling(self) -> None:
        self._set_stage("Cancelling… (after the current tile or stage)")

    def cancelled(self) -> None:
        self._set_stage("Cancelled")
        self.showMessage("Cancelled", 4000)

    def idle(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        if self.stage_label.text() != "Cancelled":
            self._set_stage("Ready")

    def set_device(self, label: str) -> None:
        short = label.split(" (")[0] if len(label) > 12 else label
        self.device_label.setText(short)
        self.device_label.setToolTip(f"Device: {label}")

    def set_latency(self, seconds: float, cached: bool, debounce_ms: int) -> None:
        self.latency_label.setText(f"{seconds * 1000:.0f} ms" + (" (cached)" if cached else ""))
        self.latency_label.setToolTip("Time from the last parameter change to the updated "
                                      f"view, including the {debounce_ms} ms debounce")

    def _set_stage(self, text: str) -> None:
        """The stage text; the full text is the tool tip when it has to be shortened."""
        self.stage_label.setToolTip(text)
        self.stage_label.setText(text)


def _label(name: str, tip: str = "") -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    if tip:
        label.setToolTip(tip)
    return label
