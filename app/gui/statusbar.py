"""The window's status bar: job stage and progress, Cancel, pixel, zoom, latency, device.

A widget of its own (napari keeps its status bar apart from the viewer too); the window
calls its methods when the worker reports, and connects :attr:`StatusBar.cancel_button`.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget


class StatusBar(QStatusBar):
    """Stage text (stretching), then pixel, zoom, latency, progress, Cancel and device."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self.stage_label = _label("stageLabel")
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setFixedWidth(160)
        self.progress.setMaximumHeight(16)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job at its next stage boundary (Esc)")
        self.cancel_button.setEnabled(False)
        self.zoom_label = _label("zoomLabel",
                                 "Zoom (image pixels per screen pixel); Ctrl+0 fit, Ctrl+1 1:1")
        self.pixel_label = _label("pixelLabel",
                                  "Pixel under the mouse: original and the two panes")
        self.latency_label = _label("latencyLabel")
        self.device_label = _label("deviceLabel")
        self.device_label.setText("Device: starting…")
        self.addWidget(self.stage_label, 1)
        for w in (self.pixel_label, self.zoom_label, self.latency_label, self.progress,
                  self.cancel_button, self.device_label):
            self.addPermanentWidget(w)
        self._job = ""

    def job_started(self, what: str, total: int = 0) -> None:
        """A job starts: its description, a busy bar (or 0/``total`` steps), Cancel on."""
        self._job = what
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, max(total, 1) if total else 0)
        self.progress.setValue(0)
        self.stage_label.setText(what)

    def stage(self, stage: str, done: int = 0, total: int = 0) -> None:
        self.stage_label.setText(f"{self._job} — {stage}…")
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def cancelling(self) -> None:
        self.stage_label.setText("Cancelling… (takes effect at the next stage boundary)")

    def cancelled(self) -> None:
        self.stage_label.setText("Cancelled")
        self.showMessage("Cancelled", 4000)

    def idle(self) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        if not self.stage_label.text().startswith("Cancel"):
            self.stage_label.setText("Ready")

    def set_device(self, label: str) -> None:
        self.device_label.setText(f"Device: {label}")

    def set_latency(self, seconds: float, cached: bool, debounce_ms: int) -> None:
        self.latency_label.setText(f"change → view {seconds * 1000:.0f} ms"
                                   + (" (cached)" if cached else ""))
        self.latency_label.setToolTip("Time from the last parameter change to the updated "
                                      f"view, including the {debounce_ms} ms debounce")


def _label(name: str, tip: str = "") -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    if tip:
        label.setToolTip(tip)
    return label
