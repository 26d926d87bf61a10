"""The workbench's data model, free of Qt (napari-style model/view separation).

A :class:`Session` holds the loaded images, the results computed for them (one per
image, pipeline and parameter setting) and the rate-distortion points those results give.
The GUI (:mod:`app.gui`) only displays and edits a session; the worker
(:mod:`app.gui.worker`) fills :class:`Result` objects. Everything here is plain Python and
NumPy, so it is tested without a display and usable from scripts.

RD points are :class:`app.eval.RDPoint`, the type ``edms eval`` writes, so the exports
(CSV, CompressAI-style JSON, matplotlib plot) and the BD-rate table are computed by the
same code as the command line's (:func:`app.eval.aggregate`, :func:`app.eval.bd_table`).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from app.atomic import write_bytes_atomic
from app.classes import CAMVID_CLASSES, CAMVID_PALETTE, IMAGENETTE_NAMES
from app.eval import (
    RDPoint,
    aggregate,
    bd_table,
    results_document,
    segmentation_counts,
    task_accuracy,
    with_references,
)
from app.pipelines import registry
from app.pipelines.base import View, ViewKind
from app.refcurves import ReferenceCurve

__all__ = [
    "ACCURACY_METRICS",
    "CAMVID_CLASSES",
    "CAMVID_PALETTE",
    "ImageEntry",
    "LayerInfo",
    "Result",
    "Session",
    "colorize_segmentation",
    "error_map",
    "params_key",
    "params_label",
    "segmentation_errors",
    "task_data",
    "task_metric",
    "view_to_rgb",
    "write_text_atomic",
]

_VOID_COLOUR = np.array((0, 0, 0), dtype=np.uint8)


# ----------------------------------------------------------------------------- model

#: the RD plot's machine-accuracy qualities: key -> (task, which semantics, label)
ACCURACY_METRICS: dict[str, tuple[str, str, str]] = {
    "miou": ("segmentation", "analysed", "mIoU (reference on decoded)"),
    "miou_carried": ("segmentation", "carried", "mIoU (carried map)"),
    "top1": ("classification", "analysed", "Top-1 (reference on decoded)"),
    "top1_carried": ("classification", "carried", "Top-1 (carried class)"),
}


def _quality(metric: str, psnr: float, ms_ssim: float, haarpsi: float,
             accuracy: float) -> float:
    """The RD plot's y value for ``metric``: PSNR, MS-SSIM in dB (-10 log10(1 - MS-SSIM),
    as :func:`app.eval.plot_rd`), HaarPSI, or a machine accuracy (given)."""
    if metric == "psnr":
        return psnr
    if metric == "ms_ssim":
        return -10 * math.log10(max(1 - ms_ssim, 1e-10)) if math.isfinite(ms_ssim) \
            else math.nan
    if metric in ACCURACY_METRICS:
        return accuracy
    return haarpsi


def task_metric(data: dict[str, Any], metric: str) -> float:
    """One accuracy (:data:`ACCURACY_METRICS`) of one point's task data; NaN if unknown."""
    if not data or metric not in ACCURACY_METRICS:
        return math.nan
    task, which, _ = ACCURACY_METRICS[metric]
    if ("target" in data) != (task == "classification"):
        return math.nan
    acc = task_accuracy(task, [data], which)
    if acc is None:
        return math.nan
    return float(acc["miou" if task == "segmentation" else "top1"])


def task_data(task: str, truth: np.ndarray | int | None, analysed: Any,
              carried: dict[str, Any]) -> dict[str, Any]:
    """A point's task data (as ``edms eval --task`` stores it) from the reference
    network's output on the decoded image and the file's carried semantics; empty while
    the analysed output is unknown."""
    if not task or truth is None or analysed is None:
        return {}
    got = carried.get(task)
    if task == "segmentation":
        assert isinstance(truth, np.ndarray)
        ok = got is not None and np.shape(got) == truth.shape
        return {"analysed": segmentation_counts(np.asarray(analysed), truth),
                "carried": segmentation_counts(np.asarray(got), truth) if ok else None}
    return {"target": int(truth), "analysed": [int(c) for c in analysed][:5],
            "carried": [int(c) for c in got][:5] if got is not None else None}



def params_key(params: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """Hashable, order-independent form of a parameter dict."""
    return tuple(sorted((str(k), int(v)) for k, v in params.items()))


def params_label(params: dict[str, int]) -> str:
    """``"qp=32"``, ``"q=75, s=2"`` or ``"qp=32, tune=visual"``: a setting that is not a
    rate knob is left out at its default and shown by its value's name otherwise."""
    parts = []
    for k, v in sorted(params.items()):
        spec = next((s for s in registry.named_params(k) if not s.rate), None)
        if spec is None:
            parts.append(f"{k}={v}")
        elif v != spec.default:
            parts.append(f"{k}={spec.format(v)}")
    return ", ".join(parts)


@dataclass
class ImageEntry:
    """A loaded image. For an opened ``.edms`` file, ``array`` is its decoded image and
    ``header`` the container's description (:func:`app.container.describe`)."""

    id: int
    name: str
    array: np.ndarray
    path: str | None = None
    notes: list[str] = field(default_factory=list)
    header: dict | None = None
    pending: bool = False  # listed (a folder was opened); decoded when first shown
    #: ground truth (:mod:`app.tasks`): ``task`` is "segmentation" (``truth`` an HxW
    #: uint8 class map, void 11) or "classification" (``truth`` a class index); "" none
    task: str = ""
    truth: np.ndarray | int | None = None
    truth_source: str = ""  # the label map's file name, or the class folder
    #: the reference network's output on the original (its class map / its top-5 classes):
    #: the ceiling the decoded images are measured against
    reference: Any = None

    @property
    def is_edms(self) -> bool:
        return self.header is not None

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])


@dataclass
class LayerInfo:
    """One layer of a result, for the byte breakdown (kind name, codec name, size)."""

    kind: str
    codec: str
    bytes: int


@dataclass
class Result:
    """One image coded by one pipeline at one parameter setting, decoded and measured.

    ``decoded`` is the image rebuilt from the ``.edms`` bytes (checked equal to the
    encoder's reconstruction); ``edms`` the file's bytes; ``views`` the pipeline's
    intermediate images (:attr:`app.pipelines.base.Encoded.views`). ``ms_ssim`` and
    ``haarpsi`` are NaN until the worker has computed them (they arrive after the
    image, so the view updates first).
    """

    image_id: int
    pipeline: str
    params: dict[str, int]
    decoded: np.ndarray
    edms: bytes
    width: int
    height: int
    layers: list[LayerInfo]
    psnr: float
    ms_ssim: float = math.nan
    haarpsi: float = math.nan
    encode_s: float = math.nan
    decode_s: float = math.nan
    prepare_s: float = 0.0
    prepare_cached: bool = False
    views: dict[str, View] = field(default_factory=dict)
    device: str = ""
    from_file: bool = False
    metrics_done: bool = False
    verified: bool = False  # decoded from the .edms bytes and equal to ``decoded``
    stopped: bool = False  # Cancel stopped its verification or metrics (not measured)
    #: the semantics the file carries itself, by task (a class map; ranked classes)
    carried: dict[str, Any] = field(default_factory=dict)
    #: the reference network's output on ``decoded`` (for the image's task), once known
    analysed: Any = None
    #: the point's task data against the image's ground truth (:attr:`RDPoint.task`)
    task: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.image_id, self.pipeline, params_key(self.params))

    @property
    def file_bytes(self) -> int:
        return len(self.edms)

    @property
    def payload_bytes(self) -> int:
        return sum(layer.bytes for layer in self.layers)

    @property
    def bpp(self) -> float:
        return 8.0 * self.file_bytes / (self.width * self.height)

    @property
    def complete(self) -> bool:
        """True once every metric is known (the result then gives an RD point)."""
        return self.metrics_done

    def layer_bytes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for layer in self.layers:
            out[layer.kind] = out.get(layer.kind, 0) + layer.bytes
        return out

    def rd_point(self, image_name: str) -> RDPoint:
        param, value = next(iter(sorted(self.params.items()))) if self.params else ("", 0)
        return RDPoint(
            image=image_name,
            pipeline=self.pipeline,
            param=param,
            value=int(value),
            width=self.width,
            height=self.height,
            file_bytes=self.file_bytes,
            payload_bytes=self.payload_bytes,
            bpp=self.bpp,
            bpp_payload=8.0 * self.payload_bytes / (self.width * self.height),
            psnr_rgb=self.psnr,
            ms_ssim_rgb=self.ms_ssim,
            haarpsi=self.haarpsi,
            encode_s=self.encode_s,
            decode_s=self.decode_s,
            layers=self.layer_bytes(),
            params={k: int(v) for k, v in self.params.items()},
            task=dict(self.task),
        )

    def accuracy(self, metric: str) -> float:
        """``miou``/``top1`` of the reference network on the decoded image, or
        ``miou_carried``/``top1_carried`` of the file's own semantics, against the image's
        ground truth; NaN when unknown (no ground truth, not computed, nothing carried)."""
        return task_metric(self.task, metric)


class Session:
    """Images, results and RD points of one workbench session."""

    def __init__(self) -> None:
        self.images: dict[int, ImageEntry] = {}
        self.results: dict[tuple, Result] = {}
        self._ids = itertools.count(1)

    # images
    def add_image(
        self,
        name: str,
        array: np.ndarray,
        path: str | None = None,
        notes: Iterable[str] = (),
        header: dict | None = None,
    ) -> ImageEntry:
        arr = np.ascontiguousarray(array)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 image, got {arr.dtype} {arr.shape}")
        entry = ImageEntry(next(self._ids), name, arr, path, list(notes), header)
        self.images[entry.id] = entry
        return entry

    def add_pending(self, name: str, path: str) -> ImageEntry:
        """List an image file without decoding it (:meth:`load_pending` does, when it is
        first shown): opening a folder of hundreds of photos stays instant."""
        entry = ImageEntry(next(self._ids), name, np.zeros((0, 0, 3), np.uint8), path,
                           pending=True)
        self.images[entry.id] = entry
        return entry

    def load_pending(self, image_id: int, array: np.ndarray, notes: Iterable[str] = ()
                     ) -> ImageEntry:
        """Give a listed image its pixels."""
        entry = self.images[image_id]
        arr = np.ascontiguousarray(array)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 uint8 image, got {arr.dtype} {arr.shape}")
        entry.array, entry.pending = arr, False
        entry.notes = list(notes)
        return entry

    def find_path(self, path: str) -> ImageEntry | None:
        """The open image read from ``path`` (the same file), if any."""
        want = os.path.realpath(path)
        for entry in self.images.values():
            if entry.path and os.path.realpath(entry.path) == want:
                return entry
        return None

    def remove_image(self, image_id: int) -> None:
        self.images.pop(image_id, None)
        for key in [k for k in self.results if k[0] == image_id]:
            del self.results[key]

    # ground truth
    def set_truth(self, image_id: int, task: str, truth: np.ndarray | int | None,
                  source: str = "") -> None:
        """Give an image its ground truth (or none: ``task`` ""), and score its results
        again. A label map must have the image's size (:class:`ValueError` otherwise)."""
        entry = self.images[image_id]
        if task == "segmentation":
            lab = np.asarray(truth)
            if lab.ndim != 2 or lab.shape != entry.array.shape[:2]:
                raise ValueError(
                    f"the label map is {lab.shape[1] if lab.ndim == 2 else '?'}×"
                    f"{lab.shape[0]}, the image {entry.width}×{entry.height}")
            truth = lab.astype(np.uint8)
        elif task == "classification":
            truth = int(truth)  # type: ignore[arg-type]
        elif task:
            raise ValueError(f"unknown task {task!r}")
        if entry.task and task != entry.task:  # another reference network: stale outputs
            entry.reference = None
            for r in self.results_for(image_id):
                r.analysed = None
        entry.task, entry.truth, entry.truth_source = task, truth if task else None, source
        for r in self.results_for(image_id):
            self.score(r)

    def score(self, result: Result) -> None:
        """(Re)compute a result's task data against its image's ground truth."""
        entry = self.images.get(result.image_id)
        if entry is None or not entry.task:
            result.task = {}
            return
        result.task = task_data(entry.task, entry.truth, result.analysed, result.carried)

    def reference_accuracy(self, image_id: int) -> dict[str, float]:
        """The reference network's accuracy on the original (the ceiling): ``miou`` and
        pixel accuracy, or ``top1``/``top5``; empty while unknown."""
        entry = self.images.get(image_id)
        if entry is None or not entry.task or entry.reference is None:
            return {}
        data = task_data(entry.task, entry.truth, entry.reference, {})
        acc = task_accuracy(entry.task, [data], "analysed") or {}
        return {k: float(v) for k, v in acc.items() if isinstance(v, (int, float))}

    def unanalysed(self, image_id: int) -> list[Result]:
        """Results of an image with ground truth whose reference-network output is
        missing (they were computed before the truth was known)."""
        entry = self.images.get(image_id)
        if entry is None or not entry.task:
            return []
        return [r for r in self.results_for(image_id) if r.analysed is None and not r.task]

    # results
    def add_result(self, result: Result) -> Result:
        self.results[result.key] = result
        self.score(result)
        return result

    def get_result(self, image_id: int, pipeline: str, params: dict[str, int]) -> Result | None:
        return self.results.get((image_id, pipeline, params_key(params)))

    def results_for(self, image_id: int, pipeline: str | None = None) -> list[Result]:
        """Results of one image (optionally one pipeline), by pipeline then bpp."""
        out = [
            r
            for r in self.results.values()
            if r.image_id == image_id and (pipeline is None or r.pipeline == pipeline)
        ]
        return sorted(out, key=lambda r: (r.pipeline, r.bpp))

    # RD data
    def rd_points(self, image_id: int) -> list[RDPoint]:
        """Complete (all metrics known) results of an image as RD points."""
        entry = self.images.get(image_id)
        if entry is None:
            return []
        return [
            r.rd_point(entry.name)
            for r in self.results_for(image_id)
            if r.complete and not r.from_file
        ]

    def rd_series(self, image_id: int, metric: str = "psnr") -> dict[str, list[tuple]]:
        """``{pipeline: [(bpp, y, result), ...]}`` sorted by bpp, finite y only.

        ``metric`` is ``"psnr"`` (dB), ``"ms_ssim"`` (in dB, ``-10 log10(1 - MS-SSIM)``,
        as in :func:`app.eval.plot_rd`) or ``"haarpsi"``.
        """
        out: dict[str, list[tuple]] = {}
        for r in self.results_for(image_id):
            if r.from_file:
                continue
            y = _quality(metric, r.psnr, r.ms_ssim, r.haarpsi,
                         r.accuracy(metric) if metric in ACCURACY_METRICS else math.nan)
            if math.isfinite(y):
                out.setdefault(r.pipeline, []).append((r.bpp, y, r))
        for series in out.values():
            series.sort(key=lambda t: t[0])
        return out

    def all_points(self) -> list[RDPoint]:
        return [p for i in self.images for p in self.rd_points(i)]

    def rd_series_mean(self, metric: str = "psnr") -> dict[str, list[tuple]]:
        """Like :meth:`rd_series` for the mean over all images (:func:`app.eval.aggregate`):
        ``{pipeline: [(bpp, y, row), ...]}`` with ``row`` a dict (value, n, psnr, ...)."""
        out: dict[str, list[tuple]] = {}
        for name, entry in aggregate(self._points_for(metric)).items():
            res = entry["results"]
            for i, bpp_value in enumerate(res["bpp"]):
                row = {"param": entry["param"], "value": res[entry["param"]][i],
                       "n": res["images"][i], "psnr": res["psnr-rgb"][i],
                       "ms_ssim": res["ms-ssim-rgb"][i], "haarpsi": res["haarpsi"][i]}
                # data-set accuracies: confusion matrices summed over the images, as
                # edms eval --task computes them (None where an image has no truth)
                for key in ACCURACY_METRICS:
                    got = res.get(key.replace("_", "-"))
                    row[key] = math.nan if got is None or got[i] is None else float(got[i])
                y = _quality(metric, row["psnr"], row["ms_ssim"], row["haarpsi"],
                             row.get(metric, math.nan))
                if math.isfinite(y):
                    out.setdefault(name, []).append((bpp_value, y, row))
        return out

    def _points_for(self, metric: str) -> list[RDPoint]:
        """Every RD point; for a machine accuracy only those of images with ground truth
        (the mean of a labelled folder while other images are open too)."""
        points = self.all_points()
        return [p for p in points if p.task] if metric in ACCURACY_METRICS else points

    def bd_table_all(self, anchor: str, metric: str = "psnr",
                     references: Sequence[ReferenceCurve] = ()
                     ) -> dict[str, dict[str, float | None]]:
        """Like :meth:`bd_table` for the mean over every open image."""
        points = self._points_for(metric)
        return bd_table(with_references(aggregate(points), references), anchor) \
            if points else {}

    def bd_table(self, image_id: int, anchor: str,
                 references: Sequence[ReferenceCurve] = ()
                 ) -> dict[str, dict[str, float | None]]:
        """BD-rate (%) and BD-PSNR (dB) against ``anchor`` for this image's points; the
        published ``references`` (:mod:`app.refcurves`) are rows too, or the anchor (by
        their label, ``"NAME (published)"``)."""
        points = self.rd_points(image_id)
        if not points:
            return {}
        return bd_table(with_references(aggregate(points), references), anchor)

    def csv_text(self, image_id: int | None = None) -> str:
        """All RD points (of one image, or of every image) as CSV, one row per point."""
        ids = [image_id] if image_id is not None else list(self.images)
        points = [p for i in ids for p in self.rd_points(i)]
        names = [f.name for f in fields(RDPoint) if f.name not in ("layers", "params")]
        kinds = sorted({k for p in points for k in p.layers})
        # parameters other than the first (a sampling factor, say) get a column each
        extra = sorted({k for p in points for k in p.params if k != p.param})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(names + extra + [f"bytes_{k}" for k in kinds])
        for p in points:
            row = asdict(p)
            writer.writerow([row[n] for n in names] + [p.params.get(k, "") for k in extra]
                            + [p.layers.get(k, 0) for k in kinds])
        return buf.getvalue()

    def json_document(self, image_id: int | None = None, anchor: str | None = None) -> dict:
        """CompressAI-style results document (:func:`app.eval.results_document`)."""
        ids = [image_id] if image_id is not None else list(self.images)
        points = [p for i in ids for p in self.rd_points(i)]
        return results_document(points, anchor)


# ----------------------------------------------------------------------------- images


def colorize_segmentation(classes: np.ndarray) -> np.ndarray:
    """HxW class indices -> HxWx3 uint8 in the CamVid palette (others black)."""
    idx = np.asarray(classes).astype(np.int64)
    lut = np.vstack([CAMVID_PALETTE, _VOID_COLOUR[None]])
    idx = np.where((idx >= 0) & (idx < len(CAMVID_PALETTE)), idx, len(CAMVID_PALETTE))
    return lut[idx]


def _hot_lut() -> np.ndarray:
    t = np.arange(256, dtype=np.float32) / 255.0
    rgb = np.stack([np.clip(t * 3, 0, 1), np.clip(t * 3 - 1, 0, 1), np.clip(t * 3 - 2, 0, 1)], 1)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


_HOT = _hot_lut()


def bit_map_to_rgb(bits: np.ndarray, scale: int = 1) -> np.ndarray:
    """Bits per block as a "hot" heat map (0 -> black, the largest block -> white), each
    block repeated ``scale`` x ``scale`` times so it lies over the image it describes."""
    f = np.nan_to_num(np.asarray(bits, dtype=np.float32))
    peak = float(f.max()) if f.size else 0.0
    idx = np.clip(f * (255.0 / (peak or 1.0)), 0, 255).astype(np.uint8)
    rgb = _HOT[idx]
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(rgb)


def error_map(original: np.ndarray, decoded: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """Heat map of ``|original - decoded|`` (max over RGB, times ``gain``), HxWx3 uint8.

    Colours run black -> red -> yellow -> white ("hot"), so small errors are visible.
    """
    if original.shape != decoded.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {decoded.shape}")
    d = np.abs(original.astype(np.int16) - decoded.astype(np.int16))
    m = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])
    if gain != 1.0:
        m = np.minimum(m * gain, 255)
    return _HOT[m.astype(np.uint8)]


#: the error overlay's colour for a wrongly classified pixel (RGBA)
ERROR_RGBA = (255, 40, 40, 255)


def segmentation_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """HxWx4 uint8 overlay: the pixels where ``pred`` differs from the ground truth in
    :data:`ERROR_RGBA`, every other pixel (right, or void in the truth) transparent."""
    p, t = np.asarray(pred), np.asarray(truth)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {t.shape}")
    wrong = (p.astype(np.int16) != t) & (t < len(CAMVID_CLASSES))
    out = np.zeros(t.shape + (4,), np.uint8)
    out[wrong] = ERROR_RGBA
    return out


def classes_text(views: dict[str, View]) -> str:
    """The ranked classes a file carries (its ``classes`` view), as ``"church 82 %, gas
    pump 9 %, …"`` with Imagenette names; empty when the pipeline carries none."""
    ranked = views.get("classes")
    if ranked is None:
        return ""
    probs = views.get("class_probabilities")
    p = np.asarray(probs.array) if probs is not None else None
    out = []
    for i, c in enumerate(np.asarray(ranked.array).ravel().tolist()):
        name = IMAGENETTE_NAMES[c] if 0 <= c < len(IMAGENETTE_NAMES) else f"class {c}"
        out.append(f"{name} {100 * float(p[i]):.0f} %" if p is not None and i < p.size
                   else name)
    return ", ".join(out)


def view_to_rgb(view: View) -> np.ndarray:
    """A pipeline view (:class:`app.pipelines.base.View`) as an HxWx3 uint8 image for
    display, chosen by its kind:

    - segmentation views (integer HxW class maps) get the CamVid colours;
    - residuals, and any signed array, are shown around mid-grey, amplified so the
      largest magnitude reaches full scale (a uint8 residual is already centred on 128);
    - other HxW arrays are stretched to 0..255 grey; 1- or 4-channel arrays are
      reduced to RGB.
    """
    name = view.kind.value
    a = np.asarray(view.array)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # CHW -> HWC
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise ValueError(f"cannot display view {name!r} of shape {a.shape}")
    is_int = np.issubdtype(a.dtype, np.integer) or a.dtype == bool
    if view.kind is ViewKind.SEGMENTATION and a.ndim == 2 and is_int:
        return colorize_segmentation(a)
    if view.kind is ViewKind.BIT_MAP and a.ndim == 2:
        return bit_map_to_rgb(a, view.scale)
    if a.dtype == np.uint8:
        out = a
    elif is_int and a.size and int(a.min()) >= 0 and int(a.max()) <= 255:
        out = a.astype(np.uint8)
    else:
        f = a.astype(np.float32)
        f = np.nan_to_num(f)
        signed = float(f.min()) < 0 or view.kind is ViewKind.RESIDUAL
        if signed:
            peak = float(np.abs(f).max()) or 1.0
            out = np.clip(127.5 + f * (127.5 / peak), 0, 255).astype(np.uint8)
        else:
            lo, hi = float(f.min()), float(f.max())
            if hi <= 1.0 and lo >= 0.0:
                lo, hi = 0.0, 1.0
            out = np.clip((f - lo) * (255.0 / ((hi - lo) or 1.0)), 0, 255).astype(np.uint8)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)


def write_text_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write ``text`` to ``path`` through a temporary file and :func:`os.replace`."""
    write_bytes_atomic(path, text)

