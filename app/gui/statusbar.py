"""The window's status bar: job stage and progress, Cancel, pixel, zoom, latency, device.

A widget of its own (napari keeps its status bar apart from the viewer too); the window
calls its methods when the worker reports, and connects :attr:`StatusBar.cancel_button`.
Long work shows the percent done of the current pass (tiles of a network pass, points of
a sweep) and a smoothed estimate of the time left (:class:`Eta`); a job without such
units shows its percent done and time left from how long the same kind of job took
before (:class:`JobClock`). Everything fits a 1280-pixel
wide window: the read-outs are short and their long forms are tool tips.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QPushButton, QStatusBar, QWidget


class Eta:
    """Percent done and time left of one pass (a stage with ``total`` units), from the
    pace so far, smoothed: the shown estimate moves halfway from where the last one
    would be now towards the new one, so it does not jump with one slow unit. Plain
    Python, so it is tested without a display."""

    def __init__(self, clock=time.monotonic) -> None:  # noqa: ANN001 - a callable
        self._clock = clock
        self._key: tuple[str, int] | None = None
        self._t0 = 0.0
        self._done0 = 0
        self._shown: tuple[float, float] | None = None  # (time, seconds left) last shown

    def text(self, stage: str, done: int, total: int) -> str:
        """``"3 of 12 (25 %), about 40 s left"``; empty for an unknown total."""
        if total <= 0:
            self._key = None
            return ""
        now = self._clock()
        if self._key != (stage, total) or done <= 0:
            self._key, self._t0 = (stage, total), now
            self._done0 = max(done, 0)
            self._shown = None
        pct = 100.0 * done / total
        out = f"{done} of {total} ({pct:.0f} %)"
        units = done - self._done0
        if units > 0 and done < total:
            left = (now - self._t0) / units * (total - done)
            if self._shown is not None:
                t, before = self._shown
                expected = before - (now - t)  # the last estimate, counted down
                if expected > 0:
                    left = 0.5 * (expected + left)
            self._shown = (now, left)
            out += f", about {_duration(left)} left"
        return out


class JobClock:
    """Percent done and time left of a whole job, for jobs without countable units (a
    codec call, a stage of a network): from how long the same kind of job took per
    pixel before (an average over the runs of this session). Whether the job starts
    with the rate-independent analysis ("preparing") or reuses it is learnt from its
    first stage, and timed apart. Plain Python."""

    def __init__(self, clock=time.monotonic) -> None:  # noqa: ANN001 - a callable
        self._clock = clock
        self._history: dict[tuple[str, bool], float] = {}  # seconds per pixel
        self._name = ""
        self._key: tuple[str, bool] | None = None
        self._pixels = 1
        self._t0 = 0.0

    def start(self, name: str, pixels: int) -> None:
        """A job of kind ``name`` (empty: not timed) on ``pixels`` pixels starts."""
        self._name, self._pixels, self._t0 = name, max(int(pixels), 1), self._clock()
        self._key = None

    def stage(self, stage: str) -> None:
        if self._name and self._key is None:
            self._key = (self._name, stage == "preparing")

    def finish(self, done: bool) -> None:
        """The job ended; a completed one teaches the pace of its kind."""
        if done and self._key is not None:
            rate = (self._clock() - self._t0) / self._pixels
            old = self._history.get(self._key)
            self._history[self._key] = rate if old is None else 0.5 * (old + rate)
        self._name, self._key = "", None

    def estimate(self) -> tuple[str, int | None]:
        """The text (``"40 %, about 3 s left"``, or the time so far when the kind was
        never timed) and the percent done (None when unknown)."""
        if not self._name:
            return "", None
        elapsed = self._clock() - self._t0
        rate = self._history.get(self._key) if self._key is not None else None
        if rate is None:
            return f"{_duration(elapsed)} so far", None
        expected = rate * self._pixels
        if elapsed >= expected:
            return f"{_duration(elapsed)} so far, longer than the last time", 99
        pct = int(100 * elapsed / max(expected, 1e-9))
        return f"{pct} %, about {_duration(expected - elapsed)} left", pct


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class StatusBar(QStatusBar):
    """Stage text (stretching), progress, Cancel, then pixel, zoom, latency and device."""

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
                                 "Zoom of the images (100 %: one image pixel per screen "
                                 "pixel); Ctrl+0 fit, Ctrl+1 1:1")
        self.zoom_label.setFrameShape(QFrame.Shape.StyledPanel)  # a read-out, not progress
        self.zoom_label.hide()  # until there is an image
        self.pixel_label = _label("pixelLabel",
                                  "Pixel under the mouse: original and the two panes")
        self.latency_label = _label("latencyLabel")
        self.device_label = _label("deviceLabel")
        self.device_label.setText("starting…")
        # the job's bar and Cancel first, then, after a separator, the read-outs (pixel,
        # zoom, latency, device), each saying what it is (permanent: a status message
        # never hides Cancel)
        self.addWidget(self.stage_label, 1)
        sep = QFrame()
        sep.setObjectName("statusSeparator")
        sep.setFrameShape(QFrame.Shape.VLine)
        sep.setFrameShadow(QFrame.Shadow.Sunken)
        for w in (self.progress, self.cancel_button, sep, self.pixel_label, self.zoom_label,
                  self.latency_label, self.device_label):
            self.addPermanentWidget(w)
        self._job = ""
        self._stage = ""
        self.eta = Eta()
        self.clock = JobClock()
        from PySide6.QtCore import QTimer

        self._tick = QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self._untimed_stage)

    def job_started(self, what: str, total: int = 0, kind: str = "", pixels: int = 0
                    ) -> None:
        """A job starts: its description, a busy bar (or 0/``total`` steps), Cancel on.
        ``kind`` and ``pixels`` time it (:class:`JobClock`) when it has no steps."""
        self._job, self._stage = what, ""
        self.cancel_button.setEnabled(True)
        self.progress.show()
        self.progress.setRange(0, max(total, 1) if total else 0)
        self.progress.setValue(0)
        self.clock.start(kind if not total else "", pixels)
        self._set_stage(what)
        if not total:
            self._tick.start()

    def job_finished(self, done: bool) -> None:
        self.clock.finish(done)
        self._tick.stop()

    def stage(self, stage: str, done: int = 0, total: int = 0) -> None:
        """The running job reached ``stage``; ``done`` of ``total`` units when known."""
        self._stage = stage
        self.clock.stage(stage)
        if total:
            eta = self.eta.text(stage, done, total)
            self._set_stage(f"{self._job} — {stage}" + (f": {eta}" if eta else "…"))
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.eta.text(stage, 0, 0)
            self._untimed_stage()

    def _untimed_stage(self) -> None:
        """A stage without units: the whole job's estimate from earlier runs."""
        if not self._stage or self.eta._key is not None:
            return
        text, pct = self.clock.estimate()
        self._set_stage(f"{self._job} — {self._stage}…" + (f" {text}" if text else ""))
        if pct is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(pct)

    def set_zoom(self, factor: float) -> None:
        """The zoom of the shown images (1.0: one image pixel per screen pixel)."""
        self.zoom_label.setText(f"Zoom {factor * 100:.0f} %")
        self.zoom_label.show()

    def cancelling(self) -> None:
        self._set_stage("Cancelling… (after the current tile or stage)")

    def cancelled(self) -> None:
        self._set_stage("Cancelled")
        self.showMessage("Cancelled", 4000)

    def idle(self) -> None:
        self._tick.stop()
        self._stage = ""
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
