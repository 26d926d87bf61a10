"""What the window asks of the worker thread, and what it does with the answers.

:class:`Jobs` turns the user's commands (a pane's new setting, Match bitrate, a sweep,
Re-run, Cancel, Swap) into the model's plans (:class:`app.workbench.Workbench`) and the
worker's jobs, and gives the worker's answers (results, measurements, failures, the
reference network's output) to the model, which announces them to the views.
:class:`Devices` keeps the device menu and combo box in step with the worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtGui import QActionGroup

from app.gui.ui import DEVICE_LABELS, WindowUI
from app.gui.worker import Job, PipelineInfo, Worker
from app.session import ImageEntry, Result, params_label
from app.workbench import ORIGINAL, SIDES, EncodeRequest, Workbench

DEBOUNCE_MS = 120


class Jobs(QObject):
    """Pane requests, Match bitrate, sweeps, cancel, and the worker's answers.

    A QObject of the window's thread: the worker's signals reach its methods queued, in
    that thread (a plain object's methods would run in the worker's)."""

    def __init__(self, ui: WindowUI, model: Workbench, worker: Worker, settings: QSettings,
                 show_error: Callable[..., None], load_pending: Callable[[ImageEntry], bool],
                 parent: QObject) -> None:
        super().__init__(parent)
        self.ui, self.model, self.worker, self.settings = ui, model, worker, settings
        self.show_error, self.load_pending = show_error, load_pending
        self.requested: dict[str, float] = {}  # side -> perf_counter of the user's change
        self.last_latency_s: float | None = None
        self.latencies: list[float] = []
        self.reference_asked: set[int] = set()  # images whose ceiling was asked for
        self.debounce: dict[str, QTimer] = {}
        for side, panel in ui.panels.items():
            panel.changed.connect(self.on_panel_changed)
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(DEBOUNCE_MS)
            timer.timeout.connect(lambda s=side: self.request(s))
            self.debounce[side] = timer
        ui.match_button.clicked.connect(self.match_bitrate)
        ui.rd_panel.sweep_requested.connect(self.run_sweep)
        ui.results_table.activated_result.connect(self.show_result_in_b)
        ui.status.cancel_button.clicked.connect(self.cancel)
        w = worker
        w.catalog_ready.connect(self.on_catalog)
        w.ready.connect(self.on_ready)
        w.job_started.connect(self.on_job_started)
        w.progress.connect(self.on_progress)
        w.result_ready.connect(self.on_result)
        w.result_updated.connect(self.on_updated)
        w.job_finished.connect(self.on_job_finished)
        w.failed.connect(self.on_failed)
        w.notice.connect(self.on_notice)
        w.idle.connect(ui.status.idle)
        w.pipeline_unavailable.connect(self.on_unavailable)
        w.reference_ready.connect(self.on_reference)

    # ------------------------------------------------------------------ requests
    def on_panel_changed(self, side: str) -> None:
        self.model.set_active(side)  # Export and Save take the pane worked with last
        self.requested.setdefault(side, time.perf_counter())
        self.debounce[side].start()

    def request(self, side: str) -> None:
        """Show pane ``side``'s setting: cached result, original, or a worker job."""
        t_req = self.requested.pop(side, time.perf_counter())
        req = self.model.request(side)
        if req.action == "cached":
            self.note_latency(t_req, cached=True)
        elif req.action == "encode":
            self.submit(req.encode, "encode", t_req)

    def request_both(self) -> None:
        for side in SIDES:
            self.request(side)

    def submit(self, e: EncodeRequest | None, kind: str, t_request: float) -> None:
        assert e is not None
        entry = self.model.session.images.get(e.image_id)
        self.worker.submit(Job(kind=kind, image_id=e.image_id, image=e.image,
                               pipeline=e.pipeline, params=e.params, side=e.side,
                               target_bpp=e.target_bpp, t_request=t_request,
                               task=entry.task if entry is not None else ""))

    def analyse_truth(self, entry: ImageEntry) -> None:
        """For an image with ground truth: the reference network on its original (the
        ceiling the panes compare with) and on decoded results that lack it."""
        if not entry.task or entry.pending or entry.is_edms:
            return
        if entry.reference is None and entry.id not in self.reference_asked:
            self.reference_asked.add(entry.id)
            self.worker.submit(Job(kind="reference", image_id=entry.id, image=entry.array,
                                   task=entry.task, name=entry.name))
        todo = [(r.key, r.decoded) for r in self.model.session.unanalysed(entry.id)
                if not r.from_file]
        if todo:
            self.worker.submit(Job(kind="analyse", image_id=entry.id, task=entry.task,
                                   items=todo, name=entry.name))

    def truth_changed(self, entry: ImageEntry) -> None:
        """A label map was chosen by hand: score again."""
        self.reference_asked.discard(entry.id)
        self.analyse_truth(entry)

    def rerun(self) -> None:
        if self.model.current() is None:
            return
        self.model.forget_pane_results()
        self.request_both()

    def swap_panes(self) -> None:
        """Exchange the settings (and shown results) of panes A and B."""
        self.model.swap()

    def show_result_in_b(self, result: Result) -> None:
        if result.from_file:
            return
        self.model.set_pane("B", result.pipeline, result.params)
        self.model.show("B", result)

    def match_bitrate(self) -> None:
        req = self.model.match_request()
        if isinstance(req, str):
            self.show_error(req)
            return
        self.submit(req, "match", time.perf_counter())
        self.model.mark_waiting("B")
        self.model.notify(f"Matching B ({req.pipeline}) to {req.target_bpp:.4f} bpp…", 4000)

    def sweep_checked(self) -> None:
        self.run_sweep(self.ui.rd_panel.sweep_plan())

    def run_sweep(self, plan: list[tuple[str, list[int]]]) -> None:
        """Queue a sweep of ``plan`` on the current image (or every open image)."""
        if self.model.current() is None:
            self.show_error("Open an image before running a sweep.")
            return
        every = self.ui.rd_panel.sweep_all.isChecked()
        if every:  # listed images are decoded now
            for entry in list(self.model.session.images.values()):
                if entry.pending:
                    self.load_pending(entry)
        todo = self.model.sweep_plan(plan, every)
        for entry, jobs in todo:
            self.worker.submit(Job(kind="sweep", image_id=entry.id, image=entry.array,
                                   plan=jobs, name=entry.name, task=entry.task))
        self.ui.rd_panel.set_tasks({e.task for e in self.model.session.images.values()})
        if not todo:
            self.model.notify("Sweep: every point is already computed", 4000)

    def cancel(self) -> None:
        """Stop the running job (Esc): after its current tile or stage."""
        if self.worker.cancel():
            self.ui.status.cancelling()
            self.follow_shown(self.model.cancelled())
        else:
            self.model.notify("Nothing to cancel", 2000)

    def follow_shown(self, sides: list[str]) -> None:
        """Pane ``sides`` took the setting they show (after a cancel): ask for nothing."""
        for side in sides:
            self.debounce[side].stop()
            self.requested.pop(side, None)

    def note_latency(self, t_request: float, cached: bool = False) -> None:
        if not t_request:
            return
        dt = time.perf_counter() - t_request
        self.last_latency_s = dt
        self.latencies.append(dt)
        self.ui.status.set_latency(dt, cached, DEBOUNCE_MS)

    # ------------------------------------------------------------------ worker signals
    def on_catalog(self, infos: list[PipelineInfo]) -> None:
        for panel in self.ui.panels.values():
            panel.set_catalog(infos)
        self.model.set_catalog(infos)
        for side in SIDES:  # the settings the panes had when the window last closed
            name = str(self.settings.value(f"pane{side}/pipeline",
                                           ORIGINAL if side == "A" else "hevc"))
            try:
                params = json.loads(str(self.settings.value(f"pane{side}/params", "{}")))
            except ValueError:
                params = {}
            self.model.set_pane(side, name, params)
        self.ui.rd_panel.set_catalog(infos)

    def on_unavailable(self, name: str, why: str) -> None:
        for panel in self.ui.panels.values():
            panel.mark_unavailable(name, why)
        self.model.mark_unavailable(name, why)
        rd = self.ui.rd_panel
        rd.set_checked({n for n, _ in rd.sweep_plan()} - {name})

    def on_ready(self) -> None:
        self.model.ready = True
        entry = self.model.current()
        if entry is not None:
            self.request_both()
            self.analyse_truth(entry)

    def on_job_started(self, job: Job) -> None:
        total = sum(len(v) for _, v in job.plan) if job.kind == "sweep" else 0
        what = {"encode": f"{job.pipeline} {params_label(job.params)}",
                "match": f"matching {job.pipeline} to {job.target_bpp:.4f} bpp",
                "sweep": f"sweep of {job.name or 'image'} ({total} points)",
                "decode": f"decoding {job.name}"}.get(job.kind, job.kind)
        pixels = int(job.image.shape[0] * job.image.shape[1]) if job.image is not None \
            else len(job.data)
        self.ui.status.job_started(what, total, f"{job.kind} {job.pipeline}", pixels)

    def on_progress(self, _job_id: int, stage: str, done: int, total: int) -> None:
        self.ui.status.stage(stage, done, total)

    def on_updated(self, key: tuple, values: dict) -> None:
        """The worker verified a result, measured it, or withdrew it (``invalid``)."""
        self.model.update(key, values)

    def on_reference(self, image_id: int, output: object) -> None:
        self.model.set_reference(image_id, output)

    def on_result(self, job: Job, result: Result) -> None:
        if job.kind == "decode":  # an opened .edms file (app.gui.files)
            return
        side = job.side if job.kind in ("encode", "match") else ""
        if self.model.accept(result, side, match=job.kind == "match"):
            self.note_latency(job.t_request)

    def on_job_finished(self, job: Job, status: str) -> None:
        self.ui.status.job_finished(status == "done")
        if status == "superseded":  # its pane asked for something else: that job runs next
            return
        self.follow_shown(self.model.job_ended(status))
        if status == "cancelled":
            self.ui.status.cancelled()
        elif job.kind == "sweep" and status == "done":
            self.model.notify("Sweep finished", 4000)

    def on_failed(self, job: Job, message: str) -> None:
        if job.kind == "decode":  # an opened .edms file (app.gui.files)
            return
        if job.kind in ("encode", "match", "sweep"):
            message = f"{job.pipeline or 'sweep'}: {message}"
        side = job.side if job.kind in ("encode", "match") else ""
        if side and job.image_id == self.model.current_id:
            pane = self.model.panes[side]
            shown = pane.shown
            if pane.pipeline == job.pipeline and (shown is None or shown.pipeline != job.pipeline
                                                  or shown.params != pane.params):
                # the pane says it failed; it never claims to show the original
                self.model.fail(side, message)
        self.show_error(message, "Compression failed")

    def on_notice(self, job: Job, text: str) -> None:
        """Something to know about a job's result (Match bitrate out of reach)."""
        self.model.notify(text, 15000)
        if job.side and job.image_id == self.model.current_id:
            self.model.set_notice(job.side, text)


class Devices(QObject):
    """The device combo box and menu: what the worker can use, and the user's choice."""

    def __init__(self, ui: WindowUI, model: Workbench, worker: Worker | None,
                 settings: QSettings) -> None:
        super().__init__(ui.window)
        self.ui, self.model, self.worker, self.settings = ui, model, worker, settings
        self.device_actions = QActionGroup(ui.window)
        self.fill(["cpu"])
        ui.device_combo.currentIndexChanged.connect(self.on_choice)

    def fill(self, devices: list[str]) -> None:
        """Offer the devices the worker can use (CUDA only where torch sees a GPU)."""
        combo = self.ui.device_combo
        want = str(self.settings.value("device", "cpu")).lower()
        self.model.set_devices(devices)
        combo.blockSignals(True)
        combo.clear()
        for d in self.model.devices:
            combo.addItem(DEVICE_LABELS.get(d, d.upper()), d)
        i = combo.findData(want if want in self.model.devices else "cpu")
        combo.setCurrentIndex(max(i, 0))
        combo.setEnabled(len(self.model.devices) > 1)
        combo.blockSignals(False)
        self.model.device = combo.currentData() or "cpu"

    def fill_menu(self) -> None:
        combo, menu = self.ui.device_combo, self.ui.menu_device
        for act in self.device_actions.actions():
            self.device_actions.removeAction(act)
            menu.removeAction(act)
        for i in range(combo.count()):
            device = combo.itemData(i)
            act = menu.addAction(combo.itemText(i))
            act.setObjectName(f"actionDevice{DEVICE_LABELS.get(device, device)}")
            act.setCheckable(True)
            act.setChecked(i == combo.currentIndex())
            act.triggered.connect(lambda _=False, j=i: combo.setCurrentIndex(j))
            self.device_actions.addAction(act)

    def attach(self, worker: Worker) -> None:
        self.worker = worker
        worker.devices_ready.connect(self.on_devices)
        worker.device_changed.connect(self.ui.status.set_device)

    def on_choice(self) -> None:
        device = self.ui.device_combo.currentData() or "cpu"
        self.model.device = device
        if self.worker is not None:  # the combo is filled before the worker starts
            self.worker.set_device(device)
        for act in self.device_actions.actions():
            act.setChecked(act.text() == self.ui.device_combo.currentText())

    def on_devices(self, devices: list[str]) -> None:
        self.fill(list(devices))
        self.fill_menu()
        if self.model.device != "cpu" and self.worker is not None:  # a saved choice
            self.worker.set_device(self.model.device)
