"""The compute worker: a QObject living in its own QThread that owns the pipelines.

Everything heavy happens here, never on the UI thread: loading pipelines (and, for the
learned ones, torch and their networks), the rate-independent analysis
(:meth:`Pipeline.prepare`, cached per image, pipeline and device so a parameter change
only re-runs :meth:`Pipeline.encode_prepared`), encoding, serialising to ``.edms`` bytes,
parsing those bytes back, decoding, checking the decoder rebuilt the encoder's
reconstruction bit for bit, and the metrics. This module imports torch and the pipelines
lazily, inside the worker thread only.

Jobs are queued with :meth:`Worker.submit` (thread-safe). Interactive encodes are
coalesced per side: a newer request for pane A replaces an older one still waiting, so
dragging a slider never builds a backlog. An interactive result is sent as soon as it is
encoded, showing the encoder's reconstruction (with PSNR); the worker then decodes the
``.edms`` bytes, checks the decoder rebuilt exactly that image (a mismatch is an error
dialog and the result is withdrawn), and computes MS-SSIM and HaarPSI, each sent with
:attr:`Worker.result_updated`. While another request is waiting, that second half is
deferred until the queue is empty.

Progress protocol for pipelines (stage names for the status bar): before calling a
pipeline the worker sets the attribute ``pipeline.progress`` to a callable
``progress(stage: str) -> None`` and resets it to ``None`` afterwards. A pipeline may
call it at each stage boundary (``"segmentation"``, ``"compact image"``,
``"synthesis"``, ``"residual coding"``, ...). The call raises :class:`Cancelled` when the
user pressed Cancel; pipelines must let it propagate. Classical pipelines do not call it;
the worker itself reports ``"preparing"``, ``"coding"``, ``"decoding"`` and ``"metrics"``.
Within a stage, the tiled network passes (:func:`app.pipelines.netrun.tiled`,
:func:`app.pipelines.endtoend.tiled_latent`) call the context-local hook of
:mod:`app.cancel` after every tile; every job runs inside
:func:`app.cancel.watching` with :meth:`Worker.check_cancel_and_report`, so Cancel
takes effect after the running tile (not the running stage) and the status bar shows
tiles done of the pass with an estimate of the time left. A call that Python cannot
interrupt (one tile's forward pass, x265, a lossless JPEG XL candidate) runs on a helper
thread while the worker polls the stop flag (:func:`app.cancel.interruptible`):
Cancel abandons it within :data:`app.cancel.POLL_S` seconds.

A newer encode or match request of a pane supersedes that pane's running job: it stops
after its running tile (or abandoned codec call) and finishes as ``"superseded"``; a
superseded check of an already shown result is deferred, not dropped.
Cancel drops the waiting jobs and the deferred verification of shown results too, so a
cancelled job never goes on by itself; a result whose verification or metrics were
stopped is marked :attr:`Result.stopped` (shown as not measured, encoded again when it is
asked for). :meth:`Worker.forget_image` cancels and frees the work of a closed image.

Devices: at start the worker asks torch which devices exist and sends the list with
:attr:`devices_ready` (``["cpu"]``, plus ``"cuda"`` when ``torch.cuda.is_available()``);
the GUI offers only those. The chosen one (:meth:`Worker.set_device`) is passed to
:meth:`Pipeline.to` before a pipeline is used: it moves the encoder's analysis networks
(whose outputs are coded into the file); the networks a decoder runs stay on the CPU, so
every result still decodes bit-exactly on the CPU. A result records where its analysis
ran (:attr:`Result.device`); :attr:`device_changed` reports the device for people.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.errors import Cancelled
from app.session import LayerInfo, Result, params_label
from app.workbench import PipelineInfo, internal_error_text

__all__ = ["Cancelled", "Job", "PipelineInfo", "Worker", "WorkerThread"]

_PREPARED_CACHE_SIZE = 6


@dataclass
class Job:
    """A request for the worker. ``kind`` is ``encode``, ``sweep``, ``match`` or ``decode``.

    - ``encode``: ``image``/``image_id``, ``pipeline``, ``params``; ``side`` ("A", "B")
      identifies the pane asking (requests of one side replace each other).
    - ``sweep``: ``plan`` = ``[(pipeline, [params, ...]), ...]``.
    - ``match``: encode ``pipeline`` at the setting :func:`app.api.closest_setting` picks
      for ``target_bpp`` (``params`` is replaced by it).
    - ``decode``: ``data`` = an ``.edms`` file's bytes, ``name`` its name.
    - ``reference``: run the reference network of ``task`` on the original ``image``
      (:attr:`Worker.reference_ready`).
    - ``analyse``: run it on decoded images, ``items`` = ``[(Result.key, decoded), ...]``
      (each answered by :attr:`Worker.result_updated` with ``analysed``).

    ``task`` ("segmentation", "classification" or "") is the image's ground-truth task:
    with one, the metrics of every result include the reference network's output on the
    decoded image (SegNet's class map, the classifier's top-5), which the window scores
    against the truth.
    """

    kind: str
    image_id: int = 0
    image: np.ndarray | None = None
    pipeline: str = ""
    params: dict[str, int] = field(default_factory=dict)
    side: str = ""
    plan: list[tuple[str, list[dict[str, int]]]] = field(default_factory=list)
    target_bpp: float = 0.0
    data: bytes = b""
    name: str = ""
    id: int = 0
    t_request: float = 0.0  # perf_counter of the user action, for latency reports
    task: str = ""
    items: list[tuple[tuple, np.ndarray]] = field(default_factory=list)


class Worker(QObject):
    """Owns the pipelines; runs :class:`Job` objects one after another (see module doc)."""

    catalog_ready = Signal(object)  # list[PipelineInfo]
    devices_ready = Signal(object)  # list[str]: "cpu", and "cuda" when torch sees one
    device_changed = Signal(str)  # e.g. "CPU", "CUDA (NVIDIA ...)", "CPU (CUDA unavailable)"
    ready = Signal()  # catalog sent and torch/metrics warmed up
    job_started = Signal(object)  # Job
    progress = Signal(int, str, int, int)  # job id, stage, done, total (0: unknown)
    result_ready = Signal(object, object)  # Job, Result (ms_ssim/haarpsi may be NaN)
    result_updated = Signal(object, object)  # Result.key, {field: value} (see _finish)
    # Job, "done" | "cancelled" | "superseded" (a newer request of its pane) | "error"
    job_finished = Signal(object, str)
    failed = Signal(object, str)  # Job, message for people
    notice = Signal(object, str)  # Job, something the user should know (not an error)
    pipeline_unavailable = Signal(str, str)  # name, why (e.g. trained weights missing)
    reference_ready = Signal(int, object)  # image id, reference network's output on it
    idle = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()
        self._queue: list[Job] = []
        self._deferred: list[tuple[Job, Result, np.ndarray]] = []
        self._cancel = threading.Event()
        self._stop = False
        self._ids = itertools.count(1)
        self._device_choice = "cpu"
        self._device = ""
        self._devices_sent = False
        self._prepared: OrderedDict[tuple, tuple[Any, float]] = OrderedDict()
        self._busy = False
        self._job: Job | None = None  # the running job
        self._stage = ""  # the running job's current stage (for tile progress)
        self._forget: set[int] = set()  # closed images whose analyses must be dropped
        self._superseded = 0  # id of the running job a newer request of its pane stopped
        self._analysers: dict[str, Any] = {}  # task -> reference network (loaded once)

    # ------------------------------------------------------------------ GUI-thread API
    def submit(self, job: Job) -> Job:
        """Queue ``job`` (thread-safe); returns it with its id set."""
        job.id = next(self._ids)
        with self._cond:
            if job.kind in ("encode", "match") and job.side:
                self._queue = [
                    j for j in self._queue if not (j.kind in ("encode", "match")
                                                   and j.side == job.side)
                ]
                # the pane asks for something else now: its running job (or the deferred
                # check of its last result) stops at once (see _superseding)
                running = self._job
                if running is not None and running.kind in ("encode", "match") \
                        and running.side == job.side:
                    self._superseded = running.id
                    self._cancel.set()
            self._queue.append(job)
            self._cond.notify()
        return job

    def cancel(self) -> bool:
        """Drop waiting jobs and deferred verifications, and stop the running job after
        its current tile or stage. Returns False when there was nothing to stop."""
        with self._cond:
            self._superseded = 0  # the user's cancel: nothing goes on later
            anything = self._busy or bool(self._queue) or bool(self._deferred)
            self._queue = [j for j in self._queue if j.kind == "device"]
            for _job, result, _ in self._deferred:
                self.result_updated.emit(result.key, {"stopped": True})
            self._deferred.clear()
            if anything:
                self._cancel.set()
            self._cond.notify()
        return anything

    def forget_image(self, image_id: int) -> None:
        """The image was closed: drop its waiting and deferred work, stop its running job
        and free its cached analyses (in the worker thread, before the next job)."""
        with self._cond:
            self._queue = [j for j in self._queue if j.image_id != image_id]
            self._deferred = [d for d in self._deferred if d[0].image_id != image_id]
            self._forget.add(image_id)
            running = self._job
            if running is not None and running.image_id == image_id:
                self._cancel.set()
            self._cond.notify()

    def set_device(self, choice: str) -> None:
        """``"cpu"`` or ``"cuda"``; applied from the next job on."""
        with self._cond:
            self._device_choice = choice.lower()
            self._device = ""  # resolve again
            self._queue.append(Job(kind="device", id=next(self._ids)))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cancel.set()
            self._cond.notify()

    @property
    def busy(self) -> bool:
        return self._busy

    def check_cancel_and_report(self, done: int, total: int) -> None:
        """The per-tile hook (called in the worker thread between tiles of a network
        pass): raise :class:`Cancelled` if the user pressed Cancel, else report
        ``done`` of ``total`` tiles of the current stage."""
        self._check()
        job = self._job
        if job is not None and total > 1:
            self.progress.emit(job.id, self._stage or "network", int(done), int(total))

    def _cancel_requested(self) -> bool:
        return self._cancel.is_set() or self._stop

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    # ------------------------------------------------------------------ worker thread
    @Slot()
    def run(self) -> None:
        """The worker's loop (runs in the worker thread until :meth:`stop`)."""
        _lower_priority()
        try:
            self._send_catalog()
            self._resolve_device()
            self._warm_up()
        except Exception as exc:  # noqa: BLE001 - report, keep the loop alive
            self.failed.emit(Job(kind="startup"), f"worker start-up failed: {exc}")
        self.ready.emit()
        while True:
            with self._cond:
                self._drop_forgotten()
                while not self._queue and not self._deferred and not self._stop:
                    self._cond.wait(0.5)
                    self._drop_forgotten()
                if self._stop:
                    return
                job = self._queue.pop(0) if self._queue else None
                if job is None and not self._deferred:
                    continue  # a cancel emptied the queue meanwhile
                if job is not None:
                    self._cancel.clear()
                    self._superseded = 0
            if job is None:
                with self._cond:
                    if not self._deferred:  # cancelled meanwhile
                        continue
                    djob, result, original = self._deferred.pop(0)
                    self._cancel.clear()
                    self._superseded = 0
                self._job, self._busy = djob, True
                try:
                    with self._watching():
                        self._complete(djob, result, original)
                except Cancelled:
                    if not self._defer_superseded(djob, result, original):
                        self.result_updated.emit(result.key, {"stopped": True})
                except Exception as exc:  # noqa: BLE001 - becomes a dialog
                    self.result_updated.emit(result.key, {"invalid": True})
                    self.failed.emit(djob, _message(exc))
                self._job, self._busy = None, False
                with self._cond:
                    empty = not self._deferred and not self._queue
                if empty:
                    self.idle.emit()
                continue
            self._run_job(job)
            with self._cond:
                empty = not self._queue and not self._deferred
            if empty:
                self.idle.emit()

    def _run_job(self, job: Job) -> None:
        if job.kind == "device":
            self._resolve_device()
            return
        self._busy = True
        self._job, self._stage = job, ""
        self.job_started.emit(job)
        status = "done"
        try:
            with self._watching():
                self._dispatch(job)
        except Cancelled:
            # "superseded": a newer request of the same pane stopped it (not the user)
            status = "superseded" if self._superseded == job.id else "cancelled"
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dialog
            status = "error"
            self.failed.emit(job, _message(exc))
        self.job_finished.emit(job, status)
        self._job = None
        self._busy = False  # after the signals: "not busy" means they are all posted

    def _dispatch(self, job: Job) -> None:
        if job.kind == "encode":
            self._do_encode(job)
        elif job.kind == "sweep":
            self._do_sweep(job)
        elif job.kind == "match":
            self._do_match(job)
        elif job.kind == "decode":
            self._do_decode(job)
        elif job.kind == "reference":
            assert job.image is not None
            self.progress.emit(job.id, "reference network", 0, 0)
            self.reference_ready.emit(job.image_id, self._analyse(job.task, job.image))
        elif job.kind == "analyse":
            for n, (key, decoded) in enumerate(job.items):
                self._check()
                self.progress.emit(job.id, "reference network", n, len(job.items))
                self.result_updated.emit(key, {"analysed": self._analyse(job.task, decoded)})
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")

    def _watching(self):  # noqa: ANN202 - a context manager
        """The per-tile hook of :mod:`app.cancel` for the running job."""
        from app.cancel import watching

        return watching(progress=self.check_cancel_and_report,
                        cancelled=self._cancel_requested)

    def _drop_forgotten(self) -> None:
        """Free the cached analyses of closed images (called with the lock held)."""
        if self._forget:
            for key in [k for k in self._prepared if k[0] in self._forget]:
                del self._prepared[key]
            self._forget.clear()

    # ------------------------------------------------------------------ helpers
    def _send_catalog(self) -> None:
        from app.pipelines import registry

        infos = []
        for name in registry.available():
            try:
                # registry.params reads the class attributes: no network is loaded here.
                params = [
                    {
                        "name": s.name,
                        "label": s.label,
                        "minimum": int(s.minimum),
                        "maximum": int(s.maximum),
                        "default": int(s.default),
                        "sweep": [int(v) for v in s.sweep],
                        "higher_is_better": bool(s.higher_is_better),
                        "values": [int(v) for v in getattr(s, "values", ())],
                        # names of the values 0..n-1, where the spec gives them
                        "choices": [str(c) for c in getattr(s, "choices", ()) or ()],
                        # False for a setting that is not a rate knob (HEVC's tuning,
                        # hevc-pf's filter views)
                        "rate": bool(getattr(s, "rate", True)),
                    }
                    for s in registry.params(name)
                ]
                infos.append(PipelineInfo(name, registry.describe(name), params))
            except Exception as exc:  # noqa: BLE001 - a broken pipeline is listed, disabled
                infos.append(PipelineInfo(name, registry.describe(name), [], _message(exc)))
        self.catalog_ready.emit(infos)

    def _resolve_device(self) -> None:
        choice = self._device_choice
        try:
            from app.pipelines.netrun import cuda_device_name  # loads torch: worker thread

            gpu = cuda_device_name()
            cuda = bool(gpu)
        except Exception:  # noqa: BLE001 - no torch at all: CPU
            cuda, gpu = False, ""
        if not self._devices_sent:  # once, at start-up
            self._devices_sent = True
            self.devices_ready.emit(["cpu", "cuda"] if cuda else ["cpu"])
        if choice == "cpu":
            self._device, label = "cpu", "CPU"
        elif cuda:
            self._device, label = "cuda", f"CUDA ({gpu}), decoder on CPU"
        else:
            self._device = "cpu"
            label = "CPU (CUDA unavailable)" if choice == "cuda" else "CPU"
        self._prepared.clear()
        self.device_changed.emit(label)

    def _warm_up(self) -> None:
        """Import torch and run the metrics once, so the first real job is not slow
        (the import holds the interpreter lock for a while; better at start-up)."""
        from app import metrics

        a = np.zeros((32, 32, 3), np.uint8)
        metrics.ms_ssim_rgb(a, a + 1)
        metrics.haarpsi(a, a + 1)

    def _check(self) -> None:
        if self._cancel.is_set() or self._stop:
            raise Cancelled

    def _pipeline(self, name: str):  # noqa: ANN202 - a Pipeline
        from app.pipelines import registry

        try:
            p = registry.get(name)
        except Exception as exc:
            self.pipeline_unavailable.emit(name, _message(exc))
            raise
        if p.analysis_device != self._device:
            p.to(self._device)
        return p

    def _with_progress(self, pipeline: Any, job: Job, fn, *args):  # noqa: ANN001, ANN202
        def progress(stage: str) -> None:
            self._check()
            self._stage = str(stage)
            self.progress.emit(job.id, str(stage), 0, 0)

        with contextlib.suppress(AttributeError):
            pipeline.progress = progress
        try:
            return fn(*args)
        finally:
            with contextlib.suppress(AttributeError):
                pipeline.progress = None

    def _prepare(self, pipeline: Any, job: Job, image_id: int, image: np.ndarray):
        key = (image_id, pipeline.name, self._device)
        hit = self._prepared.get(key)
        if hit is not None:
            self._prepared.move_to_end(key)
            return hit[0], hit[1], True
        self.progress.emit(job.id, "preparing", 0, 0)
        self._stage = "preparing"
        t0 = time.perf_counter()
        prepared = self._with_progress(pipeline, job, pipeline.prepare, image)
        dt = time.perf_counter() - t0
        self._prepared[key] = (prepared, dt)
        while len(self._prepared) > _PREPARED_CACHE_SIZE:
            self._prepared.popitem(last=False)
        return prepared, dt, False

    def _encode(
        self, job: Job, image_id: int, image: np.ndarray, name: str, params: dict[str, int]
    ) -> Result:
        """prepare (cached) -> encode_prepared -> ``.edms`` bytes -> PSNR.

        The result shows the encoder's reconstruction; :meth:`_finish` then decodes the
        bytes and checks the decoder rebuilds exactly that image. A pipeline that gives
        no reconstruction is decoded here, before the result is shown.
        """
        from app import api, metrics

        self._check()
        pipeline = self._pipeline(name)
        params = pipeline.check_params(params)
        prepared, prep_s, cached = self._prepare(pipeline, job, image_id, image)
        self._check()
        self.progress.emit(job.id, "coding", 0, 0)
        self._stage = "coding"
        coded = self._with_progress(pipeline, job, api.code, pipeline, prepared, params)
        enc, data, enc_s = coded.encoded, coded.data, coded.encode_s
        layers = [LayerInfo(name, _codec(la.codec_id, enc.pipeline), len(la.data))
                  for name, la in zip(pipeline.layer_names(enc.layers), enc.layers,
                                      strict=True)]
        recon = enc.reconstruction
        result = Result(
            image_id=image_id,
            pipeline=name,
            params=dict(params),
            decoded=np.ascontiguousarray(recon) if recon is not None else image,
            edms=data,
            width=int(enc.width),
            height=int(enc.height),
            layers=layers,
            psnr=math.nan,
            encode_s=enc_s + (0.0 if cached else prep_s),
            prepare_s=prep_s,
            prepare_cached=cached,
            views=dict(enc.views or {}),
            device=pipeline.analysis_device,
            carried=_carried(enc.views or {}),
        )
        if recon is None:
            self._finish(job, result, quiet=True)
        result.psnr = metrics.psnr_rgb(image, result.decoded)
        return result

    def _finish(self, job: Job, result: Result, quiet: bool = False) -> None:
        """Parse the bytes, decode them, verify against the encoder's reconstruction."""
        from app import api

        if result.verified:
            return
        self._check()
        self.progress.emit(job.id, "decoding", 0, 0)
        self._stage = "decoding"
        pipeline = self._pipeline(result.pipeline)
        # quiet: the pipeline gave no reconstruction, so there is nothing to check
        # against and the decoded image becomes the result's
        decoded, dec_s = self._with_progress(
            pipeline, job, api.decode_checked, pipeline, result.edms,
            None if quiet else result.decoded, f"{result.pipeline} {params_label(result.params)}")
        if quiet:
            result.decoded = np.ascontiguousarray(decoded)
        result.decode_s = dec_s
        result.verified = True
        if not quiet:
            self.result_updated.emit(result.key, {"decode_s": dec_s, "verified": True})

    def _metrics(self, result: Result, original: np.ndarray, job: Job) -> None:
        from app import metrics
        from app.cancel import interruptible

        self._check()
        self.progress.emit(job.id, "metrics", 0, 0)
        # each metric takes seconds on a large photo: stoppable while it runs (Cancel, or
        # a newer request of the pane)
        values: dict[str, Any] = {
            "ms_ssim": interruptible(_safe, metrics.ms_ssim_rgb, original, result.decoded)}
        self._check()
        values["haarpsi"] = interruptible(_safe, metrics.haarpsi, original, result.decoded)
        self._check()
        if job.task:  # the image has a ground truth: the reference network's view
            self._check()
            self.progress.emit(job.id, "reference network", 0, 0)
            values["analysed"] = result.analysed = self._analyse(job.task, result.decoded)
        values["metrics_done"] = True
        result.ms_ssim, result.haarpsi = values["ms_ssim"], values["haarpsi"]
        result.metrics_done = True
        self.result_updated.emit(result.key, values)

    def _analyse(self, task: str, image: np.ndarray) -> Any:
        """The reference network of ``task`` on ``image`` (:func:`app.eval.reference_
        analyser`: the shipped SegNet's HxW class map, or the classifier's top-5)."""
        from app.eval import reference_analyser

        fn = self._analysers.get(task)
        if fn is None:
            fn = self._analysers[task] = reference_analyser(task)
        out = fn(image)
        return np.ascontiguousarray(out) if task == "segmentation" else [int(c) for c in out]

    def _complete(self, job: Job, result: Result, original: np.ndarray) -> None:
        self._finish(job, result)
        self._metrics(result, original, job)

    # ------------------------------------------------------------------ jobs
    def _do_encode(self, job: Job) -> None:
        assert job.image is not None
        result = self._encode(job, job.image_id, job.image, job.pipeline, job.params)
        self.result_ready.emit(job, result)
        with self._cond:
            # Another request is waiting (the user is still dragging): show it first,
            # verify and measure this one when the queue is empty.
            waiting = bool(self._queue)
            if waiting:
                self._deferred.append((job, result, job.image))
        if not waiting:
            try:
                self._complete(job, result, job.image)
            except Cancelled:
                if not self._defer_superseded(job, result, job.image):
                    self.result_updated.emit(result.key, {"stopped": True})
                raise
            except Exception:
                self.result_updated.emit(result.key, {"invalid": True})
                raise

    def _defer_superseded(self, job: Job, result: Result, original: np.ndarray) -> bool:
        """A newer request of the pane stopped the check and metrics of ``result``: they
        are done later, when the queue is empty, as for a result shown while dragging.
        False when the user cancelled (the result is then marked stopped)."""
        with self._cond:
            if self._superseded != job.id:
                return False
            self._deferred.append((job, result, original))
            return True

    def _do_sweep(self, job: Job) -> None:
        assert job.image is not None
        total = sum(len(values) for _, values in job.plan)
        done = 0
        for name, param_list in job.plan:
            for params in param_list:
                self._check()
                self.progress.emit(job.id, f"sweep {name} {params_label(params)}", done, total)
                result = self._encode(job, job.image_id, job.image, name, params)
                self._complete(job, result, job.image)
                # Sweep points keep numbers and the decoded image, not the intermediate
                # views (several full-size arrays each): memory stays bounded over a day.
                result.views = {}
                done += 1
                self.result_ready.emit(job, result)
                self.progress.emit(job.id, "sweep", done, total)

    def _do_match(self, job: Job) -> None:
        """The setting nearest ``job.target_bpp`` by :func:`app.api.closest_setting`, the
        rule ``edms compare`` uses (so both pick the same setting for the same target);
        every probe runs only ``encode_prepared`` + serialising on the cached analysis.
        ``job.params`` is replaced by the pick, which is then encoded as a pane request."""
        from app import api

        assert job.image is not None
        pipeline = self._pipeline(job.pipeline)
        prepared, _, _ = self._prepare(pipeline, job, job.image_id, job.image)
        probes = itertools.count()

        def probe(params: dict[str, int]) -> None:
            self._check()
            self.progress.emit(job.id, f"matching {params_label(params)}", next(probes), 0)

        coded = self._with_progress(pipeline, job, api.closest_setting, pipeline, job.image,
                                    job.target_bpp, None, prepared, probe)
        job.params = dict(coded.encoded.params)
        reach = out_of_reach(job.pipeline, job.target_bpp, coded.bpp(), job.params,
                             api.TOLERANCE)
        if reach:
            self.notice.emit(job, reach)
        self._do_encode(job)

    def _do_decode(self, job: Job) -> None:
        from app import api
        from app.container import from_bytes

        self.progress.emit(job.id, "decoding", 0, 0)
        self._stage = "decoding"
        enc = from_bytes(job.data)
        pipeline = self._pipeline(enc.pipeline)
        api.check_compatible(pipeline, enc)
        t0 = time.perf_counter()
        # verified against the file's reconstruction hash, as the CLI decodes; the views
        # are what the bitstream carries (MENet's class map, ...), for overlay and inspector
        decoded, views = self._with_progress(pipeline, job, api.decode_verified_views,
                                             pipeline, enc)
        dec_s = time.perf_counter() - t0
        layers = [LayerInfo(name, _codec(la.codec_id, enc.pipeline), len(la.data))
                  for name, la in zip(pipeline.layer_names(enc.layers), enc.layers,
                                      strict=True)]
        result = Result(
            image_id=job.image_id,
            pipeline=enc.pipeline,
            params=dict(enc.params),
            decoded=np.ascontiguousarray(decoded),
            edms=bytes(job.data),
            width=int(enc.width),
            height=int(enc.height),
            layers=layers,
            psnr=math.nan,
            decode_s=dec_s,
            views=views,
            device="cpu",  # files are decoded on the CPU
            from_file=True,
            verified=True,
            carried=_carried(views),
        )
        self.result_ready.emit(job, result)


class WorkerThread:
    """A :class:`Worker` moved to a QThread, started at once or by :meth:`start` (after
    its signals are connected: what it sends before that is lost); :meth:`shutdown`
    joins it."""

    def __init__(self, start: bool = True) -> None:
        from app.gui.nonefix import protect_none

        protect_none()  # PySide6 6.12 on Python 3.11 drops references to None
        self.thread = QThread()
        self.thread.setObjectName("edmsWorkerThread")
        self.worker = Worker()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop the worker and join its thread (a running codec call or tile is
        abandoned, see :func:`app.cancel.interruptible`; up to ``timeout_ms``)."""
        self.worker.stop()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):  # pragma: no cover - a hung codec call
            print("edms-workbench: the worker did not stop in time", file=sys.stderr)


# ---------------------------------------------------------------------------- utils


WORKER_NICE = 5


def _lower_priority() -> None:
    """Give the worker thread a lower CPU priority than the UI thread.

    On Linux the nice value is per thread and is inherited by threads created later, so
    torch's and x265's thread pools, started from here, run at the same lower priority
    and cannot starve the UI thread on a busy machine. Elsewhere (or if refused) nothing
    changes.
    """
    import os

    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid)
                           + WORKER_NICE)


def _carried(views: dict[str, Any]) -> dict[str, Any]:
    """The semantics a file carries, by task (:func:`app.tasks.carried`)."""
    from app.tasks import TASKS, carried

    arrays = {k: getattr(v, "array", v) for k, v in views.items()}
    out = {task: carried(task, arrays) for task in TASKS}
    return {k: v for k, v in out.items() if v is not None}


def _codec(codec_id: int, pipeline: str) -> str:
    from app.workbench import codec_label

    return codec_label(codec_id, pipeline)


def _safe(fn, a: np.ndarray, b: np.ndarray) -> float:  # noqa: ANN001
    try:
        return float(fn(a, b))
    except Exception:  # noqa: BLE001 - e.g. images too small for a metric
        return math.nan


def out_of_reach(pipeline: str, target: float, got: float, params: dict[str, int],
                 tolerance: float) -> str:
    """What Match bitrate tells the user when the pipeline cannot come within
    ``tolerance`` (relative) of the target bpp; empty when it can."""
    if target <= 0 or abs(got - target) <= tolerance * target:
        return ""
    what = "reach" if got < target else "go as low as"
    return (f"{pipeline} cannot {what} {target:.4f} bpp on this image: the closest it gets "
            f"is {got:.4f} bpp ({params_label(params)}), shown in B.")


def _message(exc: BaseException) -> str:
    """One line for people: an :class:`EdmsError`'s own text; anything else is a bug,
    reported as one sentence saying so and how to report it (the traceback goes to
    stderr when ``EDMS_DEBUG`` is set, as for the command line)."""
    import os
    import traceback

    from app.errors import EdmsError

    if isinstance(exc, EdmsError):
        return str(exc)
    if os.environ.get("EDMS_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    return internal_error_text()
