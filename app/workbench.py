"""The workbench model: what the window shows, free of Qt and torch.

napari splits its viewer into a ``ViewerModel`` (layers, state, no widgets) and a
``QtViewer`` that binds widgets to it; this module is the model half of the EDMS
Workbench window (:mod:`app.gui.main_window` is the other). A :class:`Workbench` holds

- the open images and results (a :class:`app.session.Session`), in the order they
  were opened, and which image is current;
- each pane's pipeline and parameters (:class:`Pane`) and the result it shows;
- the pipeline catalogue (:class:`PipelineInfo`, sent by the worker) and the devices
  the worker can use;

and plans what the window asks of the worker: a pane request (:meth:`Workbench.request`
says whether to show the original, a cached result, or which encode job to queue), a
Match bitrate request, a sweep (:meth:`Workbench.sweep_plan`, only the points not yet
computed). It also turns results into what the panes show (captions, notes, the
segmentation overlay, the pixel read-out). Everything is plain Python and NumPy, so it
is tested without a display (``tests/test_workbench.py``).

The model announces what changed (:class:`WorkbenchEvents`, psygnal signals: the
library napari's events are built on, Qt-free); the window's views subscribe and redraw
their part, so no caller has to know which widgets show what.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

from app.pipelines import registry
from app.session import ImageEntry, Result, Session, error_map, params_label, segmentation_errors

__all__ = ["ORIGINAL", "SIDES", "EncodeRequest", "Pane", "PaneRequest", "PipelineInfo",
           "Workbench", "WorkbenchEvents", "codec_label", "header_text", "internal_error_text",
           "layer_label"]

ORIGINAL = ""  # a pane's pipeline when it shows the original
SIDES = ("A", "B")
LAUNCHER = "edms-workbench"


def internal_error_text() -> str:
    """The one sentence the window shows for an unexpected exception (a bug): what it is
    and how to report it; the exception's own text goes to the traceback."""
    return ("Internal error: this is a bug in the workbench, not a problem with your "
            "image. Please report it with the steps that led here and the traceback that "
            f"the console shows when the workbench is started as `EDMS_DEBUG=1 {LAUNCHER}`.")


def codec_label(codec_id: int, pipeline: str = "") -> str:
    """A layer codec's name as both panes show it (``jpegxl``; a ``pipeline``'s own id by
    the name its spec gives it), ``codec N`` if unknown."""
    return registry.codec_name(pipeline, codec_id)


#: words of view and layer names written the way they are written elsewhere; the pipelines'
#: specs add their networks' names (:func:`app.pipelines.registry.display_names`)
_PROPER = {"rgb": "RGB", "psnr": "PSNR", "ms": "MS", "ssim": "SSIM", "x265": "x265"}


def layer_label(name: str) -> str:
    """A view or layer name for people: ``segmentation_before_<net>`` becomes
    ``segmentation before <Net>``, the network's name as its pipeline's spec writes it."""
    proper = {**_PROPER, **registry.display_names()}
    words = name.replace("_", " ").replace("-", " ").split()
    return " ".join(proper.get(w.lower(), w) for w in words)


@dataclass
class PipelineInfo:
    """What the GUI needs to build controls for one pipeline (no pipeline object)."""

    name: str
    description: str
    params: list[dict[str, Any]]  # ParamSpec fields as plain dicts
    error: str = ""

    def defaults(self) -> dict[str, int]:
        return {p["name"]: int(p["default"]) for p in self.params}


@dataclass
class Pane:
    """One pane's setting and the result it shows (None: the original, or pending)."""

    side: str
    pipeline: str = ORIGINAL
    params: dict[str, int] = field(default_factory=dict)
    shown: Result | None = None
    problem: str = ""  # why the pane cannot show its setting (failed, not offered)
    notice: str = ""  # a remark about the shown result (Match bitrate out of reach)
    waiting: bool = False  # a job for this setting is queued or running
    previous: Result | None = None  # what it showed before another pipeline was chosen

    def shows_setting(self) -> bool:
        """The shown result is the pane's own setting (pipeline and parameters)."""
        r = self.shown
        return r is not None and r.pipeline == self.pipeline and r.params == self.params


@dataclass
class EncodeRequest:
    """An encode (or match) the worker must run for a pane."""

    image_id: int
    image: np.ndarray
    pipeline: str
    params: dict[str, int]
    side: str
    target_bpp: float = 0.0


@dataclass
class PaneRequest:
    """The outcome of :meth:`Workbench.request`: ``action`` is ``"none"`` (no image),
    ``"original"``, ``"unavailable"`` (``message`` says why), ``"cached"`` (``result``
    is now shown) or ``"encode"`` (queue ``encode``)."""

    action: str
    result: Result | None = None
    encode: EncodeRequest | None = None
    message: str = ""


class WorkbenchEvents(SignalGroup):
    """What changed in a :class:`Workbench`; the window's views connect to these."""

    images = Signal()  # an image was added, loaded, renamed or closed
    current = Signal(object)  # the current image (id, or None) or its ground truth changed
    setting = Signal(str)  # the model set a pane's pipeline or parameters (side)
    pane = Signal(str)  # a pane shows another result, or none (side): redraw it
    info = Signal(str, bool)  # a pane's caption and numbers changed (side, overlay too)
    results = Signal(int)  # results of an image were added, measured or withdrawn (id)
    active = Signal(str)  # the pane worked with last (Export and Save take it)
    job_ended = Signal(bool)  # a worker job ended (True: done)
    status = Signal(str, int)  # a message for the status bar (text, milliseconds)


class Workbench:
    """Images, panes, results and planning of one workbench window (see module doc)."""

    def __init__(self, session: Session | None = None) -> None:
        self.session = session or Session()
        self.catalog: dict[str, PipelineInfo] = {}
        self.current_id: int | None = None
        self.panes = {side: Pane(side) for side in SIDES}
        self.active = "B"  # the pane the user worked with last: Export and Save take it
        self.ready = False  # the worker has sent its catalogue and warmed up
        self.devices: list[str] = ["cpu"]  # what the worker can use (it asks torch)
        self.device = "cpu"
        # called with the id of a closed image: cancel and free its work (the window
        # connects the worker here)
        self.on_close: Callable[[int], None] | None = None
        self.events = WorkbenchEvents()

    def notify(self, text: str, ms: int = 4000) -> None:
        """A message for the status bar."""
        self.events.status.emit(text, ms)

    # ------------------------------------------------------------------ catalogue
    def set_catalog(self, infos: Iterable[PipelineInfo]) -> None:
        self.catalog = {i.name: i for i in infos}
        for side in SIDES:  # a pane's pipeline may be known now
            self.events.info.emit(side, False)

    def mark_unavailable(self, name: str, why: str) -> None:
        if name in self.catalog:
            self.catalog[name].error = why

    def set_devices(self, devices: Iterable[str]) -> None:
        """The devices the worker reported; the choice falls back to the CPU."""
        self.devices = [d for d in devices if d] or ["cpu"]
        if self.device not in self.devices:
            self.device = "cpu"

    def full_params(self, name: str, params: dict[str, int]) -> dict[str, int]:
        """``params`` with the pipeline's defaults filled in (the key of a result)."""
        info = self.catalog.get(name)
        return {**(info.defaults() if info else {}), **params}

    # ------------------------------------------------------------------ images
    @property
    def shown(self) -> dict[str, Result | None]:
        """The result each pane shows (a snapshot; change it with :meth:`show`)."""
        return {side: pane.shown for side, pane in self.panes.items()}

    def current(self) -> ImageEntry | None:
        return self.session.images.get(self.current_id) if self.current_id else None

    def image_ids(self) -> list[int]:
        return list(self.session.images)

    def add_image(self, name: str, array: np.ndarray, path: str | None = None,
                  notes: Iterable[str] = (), header: dict | None = None) -> ImageEntry:
        entry = self.session.add_image(name, array, path, notes, header)
        self.events.images.emit()
        return entry

    def add_pending(self, name: str, path: str) -> ImageEntry:
        """List an image file without decoding it (:meth:`load_pending` does)."""
        entry = self.session.add_pending(name, path)
        self.events.images.emit()
        return entry

    def load_pending(self, image_id: int, array: np.ndarray, notes: Iterable[str] = ()
                     ) -> ImageEntry:
        entry = self.session.load_pending(image_id, array, notes)
        self.events.images.emit()
        return entry

    def remove_image(self, image_id: int) -> None:
        """Forget an image that is not current (a listed file that cannot be read)."""
        self.session.remove_image(image_id)
        self.events.images.emit()

    def set_truth(self, image_id: int, task: str, value: np.ndarray | int | None,
                  source: str) -> None:
        """Give an image its ground truth; the current one is shown again."""
        self.session.set_truth(image_id, task, value, source)
        if image_id == self.current_id:
            self.events.current.emit(image_id)

    def select(self, image_id: int | None) -> None:
        """Make ``image_id`` current; the panes show nothing until they are requested."""
        self.current_id = image_id if image_id in self.session.images else None
        self.clear_shown()
        self.events.current.emit(self.current_id)

    def close_current(self) -> int | None:
        """Drop the current image and its results, and cancel and free its work
        (:attr:`on_close`); return the image to show next (the one after it, else the one
        before), already current, or None. Only "no image" is announced as the current
        one: the window selects the next one itself (decoding a listed file first)."""
        ids = self.image_ids()
        if self.current_id not in ids:
            return None
        i = ids.index(self.current_id)
        closing = self.current_id
        self.session.remove_image(closing)
        if self.on_close is not None:
            self.on_close(closing)
        rest = self.image_ids()
        self.current_id = rest[min(i, len(rest) - 1)] if rest else None
        self.clear_shown()
        self.events.images.emit()
        if self.current_id is None:
            self.events.current.emit(None)
        return self.current_id

    def step(self, step: int) -> int | None:
        """The image ``step`` places after the current one (wrapping), or None."""
        ids = self.image_ids()
        if not ids:
            return None
        i = ids.index(self.current_id) if self.current_id in ids else 0
        return ids[(i + step) % len(ids)]

    # ------------------------------------------------------------------ panes
    def set_pane(self, side: str, pipeline: str, params: dict[str, int] | None = None,
                 announce: bool = True) -> None:
        """Set pane ``side``'s pipeline and parameters; ``announce=False`` when they come
        from the pane's own controls (nothing else shows them)."""
        pane = self.panes[side]
        pane.pipeline = pipeline or ORIGINAL
        pane.params = dict(params or {})
        if announce:
            self.events.setting.emit(side)

    def set_active(self, side: str) -> None:
        """The pane the user worked with last (Export and Save take it)."""
        self.active = side
        self.events.active.emit(side)

    def show(self, side: str, result: Result | None) -> None:
        self.panes[side].shown = result
        self.panes[side].problem = ""
        self.events.pane.emit(side)

    def clear_shown(self) -> None:
        for pane in self.panes.values():
            pane.shown = pane.previous = None
            pane.problem = pane.notice = ""
            pane.waiting = False

    def fail(self, side: str, message: str) -> None:
        """The pane's job failed: it shows no result and says so (not "original")."""
        pane = self.panes[side]
        pane.shown = None
        pane.problem = message
        pane.waiting = False
        self.events.pane.emit(side)

    def mark_waiting(self, side: str) -> None:
        """A job for pane ``side`` was queued (a Match bitrate)."""
        self.panes[side].waiting = True

    def cancelled(self) -> list[str]:
        """The user cancelled: no pane waits any more. A pane that still shows an older
        result takes that result's setting back (the controls say what is shown); one
        with nothing to show says it was cancelled. Returns the sides whose setting
        changed; those and every pane's caption are announced."""
        changed = []
        for side, pane in self.panes.items():
            if not pane.waiting:
                continue
            pane.waiting = False
            if pane.shown is None and pane.previous is not None \
                    and pane.previous.image_id == self.current_id:
                pane.shown = pane.previous  # what it showed before the pipeline changed
            pane.previous = None
            r = pane.shown
            if r is not None and not pane.shows_setting():
                pane.pipeline, pane.params = r.pipeline, dict(r.params)
                changed.append(side)
            elif r is None and pane.pipeline != ORIGINAL:
                pane.problem = "cancelled (Ctrl+R runs it again)"
        for side in changed:
            self.events.setting.emit(side)
            self.events.pane.emit(side)
        for side in SIDES:
            self.events.info.emit(side, False)
        return changed

    def job_ended(self, status: str) -> list[str]:
        """A worker job ended (``"done"``, ``"failed"``, ``"cancelled"`` or
        ``"superseded"``: its pane asked for something else, which runs next). Returns the
        sides a cancel gave back their shown setting (:meth:`cancelled`)."""
        if status == "superseded":
            return []
        changed = self.cancelled() if status == "cancelled" else []
        if status not in ("done", "cancelled"):
            for side in SIDES:
                self.events.info.emit(side, False)
        self.events.job_ended.emit(status == "done")
        return changed

    def set_notice(self, side: str, text: str) -> None:
        self.panes[side].notice = text
        self.events.info.emit(side, False)

    def swap(self) -> None:
        """Exchange the settings and shown results of panes A and B."""
        a, b = self.panes["A"], self.panes["B"]
        a.pipeline, b.pipeline = b.pipeline, a.pipeline
        a.params, b.params = b.params, a.params
        a.shown, b.shown = b.shown, a.shown
        a.problem, b.problem = b.problem, a.problem
        a.notice, b.notice = b.notice, a.notice
        for side in SIDES:
            self.events.setting.emit(side)
            self.events.pane.emit(side)

    def request(self, side: str) -> PaneRequest:
        """What pane ``side`` needs for its setting on the current image; announces what
        the pane shows now (and why it cannot show its setting)."""
        req = self._plan(side)
        if req.action == "encode":
            self.events.info.emit(side, False)  # "encoding…"
        elif req.action != "none":
            self.events.pane.emit(side)
        if req.action == "unavailable":
            self.notify(req.message, 8000)
        return req

    def _plan(self, side: str) -> PaneRequest:
        entry = self.current()
        pane = self.panes[side]
        if entry is None:
            return PaneRequest("none")
        pane.problem = pane.notice = ""
        pane.waiting = False
        if pane.pipeline == ORIGINAL or not self.ready:
            pane.shown = None
            return PaneRequest("original")
        info = self.catalog.get(pane.pipeline)
        if info is not None and info.error:
            pane.shown = None
            return PaneRequest("unavailable", message=f"{pane.pipeline} is unavailable: "
                                                      f"{info.error}")
        cached = self.session.get_result(entry.id, pane.pipeline, pane.params)
        if cached is not None and (cached.from_file or not cached.stopped):
            pane.shown = cached
            return PaneRequest("cached", result=cached)
        if entry.is_edms:
            # the opened file is the result: encoding its decoded image again would be
            # compared with that image, not with an original (there is none)
            pane.shown = None
            pane.problem = "not offered for a decoded .edms file"
            return PaneRequest("unavailable", message=(
                f"{entry.name} is a decoded .edms file: there is no original to compare "
                "another encoding with. Open the original image to compress it."))
        if pane.shown is not None and pane.shown.pipeline != pane.pipeline:
            # never one pipeline's result under another's name: the original is shown
            # until the new pipeline's result arrives (another setting of the same
            # pipeline stays, captioned as updating)
            pane.previous, pane.shown = pane.shown, None
        pane.waiting = True
        return PaneRequest("encode", encode=EncodeRequest(
            entry.id, entry.array, pane.pipeline, dict(pane.params), side))

    def forget_pane_results(self) -> None:
        """Drop the cached results of both panes' settings (Re-run)."""
        entry = self.current()
        if entry is None:
            return
        for pane in self.panes.values():
            if pane.pipeline != ORIGINAL:
                key = (entry.id, pane.pipeline, tuple(sorted(pane.params.items())))
                self.session.results.pop(key, None)
        self.events.results.emit(entry.id)

    def match_request(self) -> EncodeRequest | str:
        """Match bitrate: B's pipeline at the setting nearest A's bpp (the worker searches
        with :func:`app.api.closest_setting`), or a message saying what is missing."""
        entry = self.current()
        a = self.panes["A"].shown
        if entry is not None and entry.is_edms:
            return (f"{entry.name} is a decoded .edms file: there is no original to match "
                    "bitrates against. Open the original image.")
        if entry is None or a is None:
            return "Match bitrate needs a result in pane A (choose a pipeline for A)."
        b = self.panes["B"]
        if b.pipeline == ORIGINAL:
            return "Match bitrate needs a pipeline in pane B."
        return EncodeRequest(entry.id, entry.array, b.pipeline, dict(b.params), "B",
                             target_bpp=a.bpp)

    def sweep_plan(self, plan: Iterable[tuple[str, list[int]]], every_image: bool
                   ) -> list[tuple[ImageEntry, list[tuple[str, list[dict[str, int]]]]]]:
        """The points of ``plan`` (pipeline, values of its first parameter) not yet
        computed, per image (the current one, or every open image). The other parameters
        (a sampling factor, say) stay at the setting a pane shows for the pipeline (B
        first), else at their defaults: a sweep is a curve."""
        entry = self.current()
        if entry is None:
            return []
        entries = [e for e in (self.session.images.values() if every_image else [entry])
                   if not e.is_edms and not e.pending]  # no original for a decoded file
        plan = list(plan)
        out = []
        for e in entries:
            jobs = []
            for name, values in plan:
                info = self.catalog.get(name)
                if info is None or not info.params or info.error:
                    continue
                key = info.params[0]["name"]
                base = next((dict(p.params) for p in (self.panes["B"], self.panes["A"])
                             if p.pipeline == name), {})
                todo = [{**base, key: v} for v in values
                        if self.session.get_result(
                            e.id, name, self.full_params(name, {**base, key: v})) is None]
                if todo:
                    jobs.append((name, todo))
            if jobs:
                out.append((e, jobs))
        return out

    # ------------------------------------------------------------------ results
    def accept(self, result: Result, side: str = "", match: bool = False) -> bool:
        """Store a worker result; show it in ``side`` when that pane still asks for it
        (after a match, the pane takes the matched setting). True if it is shown."""
        params = self.panes[side].params if side else {}
        shown = self._accept(result, side, match)
        if result.image_id in self.session.images:
            self.events.results.emit(result.image_id)
        if side and self.panes[side].params != params:
            self.events.setting.emit(side)
        if shown:
            self.events.pane.emit(side)
        return shown

    def _accept(self, result: Result, side: str, match: bool) -> bool:
        if result.image_id not in self.session.images:
            return False  # the image was closed meanwhile
        self.session.add_result(result)
        if not side and result.task:
            # a sweep point keeps its scores, not its class maps (memory stays bounded)
            result.analysed, result.carried = None, {}
        if not side or result.image_id != self.current_id:
            return False
        pane = self.panes[side]
        if match and pane.pipeline == result.pipeline:
            pane.params = dict(result.params)
        if pane.pipeline == result.pipeline and pane.params == result.params:
            pane.shown, pane.previous = result, None
            pane.waiting = False
            return True
        return False

    def update(self, key: tuple, values: dict) -> list[str]:
        """The worker verified, measured or withdrew (``invalid``) a result: apply it and
        return the sides that show it."""
        r = self.session.results.get(key)
        if r is None:
            return []
        sides = [s for s, p in self.panes.items() if p.shown is r]
        if values.get("invalid"):
            del self.session.results[key]
            for s in sides:
                self.panes[s].shown = None
                self.events.pane.emit(s)
        else:
            for name, value in values.items():
                setattr(r, name, value)
            if "analysed" in values:
                self.session.score(r)
            for s in sides:
                self.events.info.emit(s, "analysed" in values)
        self.events.results.emit(r.image_id)
        return sides

    def set_reference(self, image_id: int, output: object) -> bool:
        """The reference network's output on an original arrived; True if it is the
        current image."""
        entry = self.session.images.get(image_id)
        if entry is None:
            return False
        entry.reference = output
        if image_id != self.current_id:
            return False
        for side in SIDES:
            self.events.info.emit(side, True)
        return True

    # ------------------------------------------------------------------ ground truth
    def accuracy_text(self, side: str) -> str:
        """The pane's accuracy against the image's ground truth, one line per kind of
        semantics (empty when the image has none): the task's reference network on what
        the pane shows, and the semantics the file carries."""
        entry = self.current()
        if entry is None or not entry.task:
            return ""
        seg = entry.task == "segmentation"
        ref_name = registry.reference(entry.task).label
        what = "mIoU" if seg else "Top-1"
        pane = self.panes[side]
        r = pane.shown
        lines = [f"Ground truth: {entry.truth_source}"]
        if r is None:
            if pane.pipeline != ORIGINAL and pane.problem:
                return lines[0]
            ref = self.session.reference_accuracy(entry.id)
            if not ref:
                lines.append(f"{what} of {ref_name} on the original: …")
            elif seg:
                lines.append(f"mIoU of {ref_name} on the original: {ref['miou']:.3f} (pixel "
                             f"accuracy {ref['pixel_acc']:.3f}), the ceiling")
            else:
                lines.append(f"{ref_name} on the original: top-1 {_right(ref['top1'])}, "
                             f"top-5 {_right(ref['top5'])}")
            return "\n".join(lines)
        if r.from_file:
            return ""
        key = "miou" if seg else "top1"
        got = r.accuracy(key)
        if math.isnan(got):
            lines.append(f"{what} of {ref_name} on the decoded image: "
                         + ("not measured" if r.stopped or r.metrics_done else "…"))
        elif seg:
            lines.append(f"mIoU of {ref_name} on the decoded image: {got:.3f}")
        else:
            lines.append(f"{ref_name} on the decoded image: top-1 {_right(got)}")
        carried = r.accuracy(key + "_carried")
        if not math.isnan(carried):
            lines.append(f"mIoU of the map the file carries: {carried:.3f}" if seg else
                         f"Class the file carries: top-1 {_right(carried)}")
        return "\n".join(lines)

    def error_overlay(self, side: str, which: str = "analysed") -> np.ndarray | None:
        """HxWx4 overlay of the pixels pane ``side``'s segmentation gets wrong against
        the ground truth (:func:`app.session.segmentation_errors`): ``which`` is
        ``"analysed"`` (the reference network on what the pane shows, the original included) or
        ``"carried"`` (the map the file carries). None when there is nothing to compare."""
        entry = self.current()
        if entry is None or entry.task != "segmentation" or entry.truth is None:
            return None
        r = self.panes[side].shown
        if r is None:
            pred = entry.reference if which == "analysed" else None
        else:
            pred = r.analysed if which == "analysed" else r.carried.get("segmentation")
        if pred is None or np.shape(pred) != np.shape(entry.truth):
            return None
        return segmentation_errors(np.asarray(pred), np.asarray(entry.truth))

    def pane_overlay(self, side: str, mode: str) -> tuple[np.ndarray | None, str]:
        """What pane ``side`` overlays in ``mode`` (``"classes"``: the class map its
        result carries, HxW; ``"analysed"`` / ``"carried"``: the HxWx4 errors of SegNet's
        map or of the carried one against the ground truth), and, when there is nothing
        to overlay, why (for the pane to say). Each pane only ever shows its own map."""
        entry = self.current()
        if entry is None:
            return None, ""
        pane = self.panes[side]
        r = pane.shown
        what = "the original" if pane.pipeline == ORIGINAL else (
            r.pipeline if r is not None else pane.pipeline)
        if mode == "classes":
            if r is None:
                return None, (f"{what} carries no segmentation map" if pane.pipeline ==
                              ORIGINAL else f"{what}: no result yet")
            for view in r.views.values():
                if view.overlay:
                    if view.array.shape[:2] != entry.array.shape[:2]:
                        return None, f"{what}: its map has another size than the image"
                    return view.array, ""
            return None, f"{what} carries no segmentation map"
        if entry.task != "segmentation" or entry.truth is None:
            return None, ("no ground-truth label map for this image (File ▸ Open Ground "
                          "Truth Label Map…)")
        if mode == "carried":
            if r is None or r.carried.get("segmentation") is None:
                return None, f"{what} carries no segmentation map"
        elif r is None and entry.reference is None or r is not None and r.analysed is None:
            return None, "SegNet is still running on it…"
        errs = self.error_overlay(side, mode)
        return errs, "" if errs is not None else f"{what}: its map has another size"

    # ------------------------------------------------------------------ display
    def image_for(self, side: str, error: bool = False) -> np.ndarray | None:
        """What pane ``side`` draws: its result, the original, or the error map."""
        entry = self.current()
        if entry is None:
            return None
        r = self.panes[side].shown
        if error:
            if r is None or r.from_file:
                return np.zeros_like(entry.array)
            return error_map(entry.array, r.decoded)
        return entry.array if r is None else r.decoded

    def error_peak(self) -> int:
        """The largest |original - decoded| (max over RGB) of the shown results, for the
        error map's colour scale (0 when nothing is compared)."""
        entry = self.current()
        peak = 0
        for side in SIDES:
            r = self.panes[side].shown
            if entry is not None and r is not None and not r.from_file \
                    and r.decoded.shape == entry.array.shape:
                d = np.abs(entry.array.astype(np.int16) - r.decoded.astype(np.int16))
                peak = max(peak, int(d.max()))
        return peak

    def caption(self, side: str, pending: bool = False, error: bool = False,
                carried: bool = False) -> str:
        """The pane's caption; ``carried``: the overlay shows the carried map, so its
        mIoU replaces SegNet's."""
        entry = self.current()
        if entry is None:
            return ""
        pane = self.panes[side]
        r = pane.shown
        pending = pending or pane.waiting
        info = self.catalog.get(pane.pipeline)
        if r is None and info is not None and info.error:
            text = f"{side} · {pane.pipeline} · unavailable (see the status bar)"
        elif r is None and pane.problem and pane.pipeline != ORIGINAL:
            short = pane.problem if len(pane.problem) <= 40 else "failed (see the message)"
            text = f"{side} · {pane.pipeline} {params_label(pane.params)} · {short}"
        elif r is None and not self.ready and pane.pipeline != ORIGINAL:
            text = f"{side} · {pane.pipeline} {params_label(pane.params)} · starting… " \
                   "(the original meanwhile)"
        elif pane.pipeline == ORIGINAL or r is None and not pending:
            what = "decoded .edms" if entry.is_edms else "original"
            text = f"{side} · {what} · {entry.width}×{entry.height}"
            ref = self.session.reference_accuracy(entry.id) if pane.pipeline == ORIGINAL \
                else {}
            if "miou" in ref:
                text += f" · mIoU {ref['miou']:.3f}"
        elif r is None:
            text = f"{side} · {pane.pipeline} {params_label(pane.params)} · encoding… " \
                   "(the original meanwhile)"
        else:
            # the numbers first: a caption too long for its pane loses the setting, never
            # the dB value
            text = f"{side} · {r.bpp:.3f} bpp"
            if not math.isnan(r.psnr):
                text += f" · {r.psnr:.2f} dB" if math.isfinite(r.psnr) else " · ∞ dB"
            if carried:  # the map the file carries, against the truth
                miou = r.accuracy("miou_carried")
                text += f" · carried mIoU {miou:.3f}" if not math.isnan(miou) else ""
            else:  # the reference network on this decoded image, against the truth
                miou = r.accuracy("miou")
                text += f" · mIoU {miou:.3f}" if not math.isnan(miou) else ""
            text += f" · {r.pipeline} {params_label(r.params)}"
            if r.from_file:
                text += " · from the file"
            if pending and not pane.shows_setting():
                text += f" · encoding {params_label(pane.params)}…"
            elif pending:
                text += " · updating…"
        if error:
            text += " · error ×4"
        return text

    def note(self, side: str) -> str:
        """The line under a pane's numbers (no image, the original, a file, a device)."""
        entry = self.current()
        pane = self.panes[side]
        r = pane.shown
        if entry is None:
            return "No image"
        if r is None:
            if pane.problem and pane.pipeline != ORIGINAL:
                return pane.problem
            if entry.is_edms and entry.header:
                return header_text(entry.name, entry.header)
            if pane.waiting:
                return (f"Encoding {pane.pipeline} {params_label(pane.params)}; the original "
                        "is shown until it is done.")
            return f"Original: {entry.width}×{entry.height}"
        notes = [pane.notice] if pane.notice else []
        if pane.waiting and not pane.shows_setting():
            notes.append(f"Encoding {params_label(pane.params)}; these numbers are of "
                         f"{params_label(r.params)}, shown until it is done.")
        if r.from_file:
            notes.append("Decoded from the opened file (no original to compare with).")
        if r.device and r.device != "cpu":
            notes.append(f"The encoder's analysis ran on {r.device.upper()}: this file can "
                         "differ from a CPU encoding. It decodes to this image on the CPU "
                         "(checked).")
        return "\n".join(notes)

    def overlay(self) -> np.ndarray | None:
        """The segmentation the shown result is built from (A first), if it has the
        image's size: the view flagged ``overlay`` (:class:`app.pipelines.base.View`)."""
        entry = self.current()
        for side in SIDES:
            r = self.panes[side].shown
            for view in r.views.values() if r is not None else ():
                if view.overlay:
                    ok = entry is not None and view.array.shape[:2] == entry.array.shape[:2]
                    return view.array if ok else None
        return None

    def pixel_text(self, x: int, y: int) -> str:
        """The read-out of pixel (x, y) in the original and both panes."""
        entry = self.current()
        if entry is None or x < 0 or y < 0 or y >= entry.height or x >= entry.width:
            return ""

        def rgb(a: np.ndarray) -> str:
            return "{},{},{}".format(*(int(v) for v in a[y, x]))

        parts = [f"({x}, {y})", f"orig {rgb(entry.array)}"]
        for side in SIDES:
            r = self.panes[side].shown
            if r is not None and r.decoded.shape == entry.array.shape:
                parts.append(f"{side} {rgb(r.decoded)}")
        return "  ".join(parts)

    def fixed_setting(self) -> str:
        """Why the panes' parameters cannot change now (an opened ``.edms`` file is
        decoded as it is), or "" when they can."""
        entry = self.current()
        if entry is not None and entry.is_edms:
            return (f"{entry.name} is a decoded .edms file: its setting is the file's. "
                    "Open the original image to compress it at other settings.")
        return ""

    def export_side(self) -> str:
        """The pane Export and Save take: the active one if it shows a result, else the
        other one if that does, else the active one (which then has nothing to save)."""
        other = "A" if self.active == "B" else "B"
        if self.panes[self.active].shown is None and self.panes[other].shown is not None:
            return other
        return self.active

    def export_result(self) -> Result | None:
        """The result Export/Save take (:meth:`export_side`'s)."""
        return self.panes[self.export_side()].shown

    def export_label(self) -> str:
        """What Export and Save take, for their menu entries: ``"Pane B (hevc qp=40)"``,
        or just the pane when it shows no result."""
        side = self.export_side()
        r = self.panes[side].shown
        return f"Pane {side}" + (f" ({r.pipeline} {params_label(r.params)})" if r else "")


def _right(share: float) -> str:
    """A one-image top-k score as people read it."""
    return "right" if share >= 1 else "wrong" if share <= 0 else f"{share:.2f}"


def header_text(name: str, h: dict) -> str:
    """An ``.edms`` header (:func:`app.container.describe`) for the side panel."""
    fp = h.get("model_fingerprint") or "none"
    lines = [
        f"Decoded from {name}",
        f"pipeline {h['pipeline']} v{h['pipeline_version']}, {params_label(h['params'])}",
        f"{h['width']}×{h['height']}, {h['total_bytes']:,} bytes, {h['bpp']:.4f} bpp",
        f"header {h['header_bytes']} B, weights {fp[:16]}",
    ]
    lines += [f"layer {la['index']}: {la['name']} "
              f"({codec_label(la['codec_id'], h['pipeline'])}) {la['bytes']:,} B"
              for la in h.get("layers", [])]
    return "\n".join(lines)
