"""Rate-distortion evaluation of pipelines over images (CompressAI's ``eval_model``).

For every image and pipeline the rate-independent work runs once
(:meth:`Pipeline.prepare`) and only :meth:`Pipeline.encode_prepared` runs per point of the
sweep grid: the product of every rate parameter's sweep values (one parameter for most
pipelines; two parameters sweep their product), each point keyed by its full parameters.
For multi-parameter pipelines the RD frontier is the upper convex hull of the points in
the (bpp, PSNR) plane (:func:`rd_hull`), used for BD-rates and by ``edms eval --hull``.
Each point goes through :func:`app.api.round_trip`: serialised to a real ``.edms`` file
in memory, decoded back from those bytes, and checked to equal the encoder's
reconstruction bit for bit; bpp is
computed from the whole file (the honest figure) and from the payload alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import api, metrics
from app.atomic import atomic_path, write_bytes_atomic
from app.errors import PipelineError
from app.pipelines import registry
from app.refcurves import ReferenceCurve, summary_entries
from app.tasks import ClassificationScore, SegmentationScore, carried

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class RDPoint:
    """One measured point: one image, one pipeline, one rate parameter."""

    image: str
    pipeline: str
    param: str
    value: int
    width: int
    height: int
    file_bytes: int
    payload_bytes: int
    bpp: float
    bpp_payload: float
    psnr_rgb: float
    ms_ssim_rgb: float
    haarpsi: float
    encode_s: float
    decode_s: float
    layers: dict[str, int]
    #: every rate parameter of the point (``param``/``value`` is the first one)
    params: dict[str, int] = field(default_factory=dict)
    #: machine-task data of the point (``edms eval --task``; see :mod:`app.tasks`):
    #: segmentation: ``{"analysed": {"cm", "tc"}, "carried": {...} | None}`` (confusion
    #: matrix and ground-truth class counts, summed over images); classification:
    #: ``{"target", "analysed": top-5, "carried": top-5 | None}``
    task: dict[str, Any] = field(default_factory=dict)
    #: dB the outer :data:`BORDER` rows and columns take off the image's PSNR-RGB
    #: (:func:`app.metrics.border_cost`); None for an image too small to have an interior
    border_db: float | None = None

    def key(self) -> tuple:
        return tuple(sorted((self.params or {self.param: self.value}).items()))


def sweep_values(pipeline: str, values: Sequence[int] | None) -> list[int]:
    """The given values, or the pipeline's default sweep of its first parameter."""
    spec = registry.params(pipeline)[0]
    return list(values) if values else list(spec.sweep)


def sweep_grid(
    pipeline: str,
    overrides: Mapping[str, Sequence[int]] | None = None,
    values: Sequence[int] | None = None,
) -> list[dict[str, int]]:
    """The product of every parameter's sweep values (first parameter varies slowest).

    ``overrides`` replaces the sweep of the named parameters (``--param NAME=V1,V2``);
    ``values`` is the older ``-q`` form: the values of the first parameter. Unknown names
    raise :class:`PipelineError`.
    """
    specs = registry.params(pipeline)
    overrides = dict(overrides or {})
    known = {s.name for s in specs}
    for name in overrides:
        if name not in known:
            raise PipelineError(f"pipeline {pipeline!r} has no parameter {name!r} "
                                f"(it has {', '.join(sorted(known)) or 'none'})")
    axes = []
    for i, spec in enumerate(specs):
        if spec.name in overrides:
            vals = list(overrides[spec.name])
        elif i == 0 and values:
            vals = list(values)
        else:
            vals = list(spec.sweep)
        axes.append([(spec.name, int(v)) for v in vals])
    return [dict(combo) for combo in itertools.product(*axes)]


def rd_hull(bpp: Sequence[float], quality: Sequence[float]) -> list[int]:
    """Indices of the RD frontier: the upper convex hull of (bpp, quality), by rising bpp.

    Points that are beaten (higher or equal rate, no better quality) or that lie below
    the segment joining two other points are dropped, so the result is the set of
    operating points a rate controller choosing among them would ever use. Non-finite
    points are skipped.
    """
    pts = sorted((b, q, i) for i, (b, q) in enumerate(zip(bpp, quality, strict=True))
                 if math.isfinite(b) and math.isfinite(q))
    pareto: list[tuple[float, float, int]] = []
    for b, q, i in pts:
        if pareto and b == pareto[-1][0]:
            if q > pareto[-1][1]:
                pareto[-1] = (b, q, i)
            continue
        if not pareto or q > pareto[-1][1]:
            pareto.append((b, q, i))
    hull: list[tuple[float, float, int]] = []
    for p in pareto:  # monotone chain, keep right turns only (concave frontier)
        while len(hull) >= 2:
            (b1, q1, _), (b2, q2, _) = hull[-2], hull[-1]
            if (b2 - b1) * (p[1] - q1) - (q2 - q1) * (p[0] - b1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return [i for _, _, i in hull]


def evaluate_image(
    image: np.ndarray,
    image_name: str,
    pipeline_name: str,
    values: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
    overrides: Mapping[str, Sequence[int]] | None = None,
    scorer: TaskScorer | None = None,
    grid: Sequence[Mapping[str, int]] | None = None,
) -> Iterator[RDPoint]:
    """Yield one :class:`RDPoint` per point of :func:`sweep_grid` (or of ``grid``, the
    settings still missing from a cache), preparing the image once. With a ``scorer`` each
    point also carries its machine-task data."""
    pipeline = registry.get(pipeline_name)
    spec = pipeline.params[0]
    grid = list(grid) if grid is not None else sweep_grid(pipeline_name, overrides, values)
    h, w = image.shape[:2]
    t0 = time.perf_counter()
    prepared = pipeline.prepare(image)
    prepare_s = time.perf_counter() - t0
    for point in grid:
        if should_stop is not None and should_stop():
            return
        params = pipeline.check_params(dict(point))
        value = params[spec.name]
        label = " ".join(f"{k}={v}" for k, v in point.items())
        trip = api.round_trip(pipeline, prepared, params,
                              what=f"{pipeline_name} {label} on {image_name}")
        enc, data, decoded = trip.encoded, trip.data, trip.decoded
        encode_s = prepare_s + trip.encode_s
        decode_s = trip.decode_s
        payload = sum(len(layer.data) for layer in enc.layers)
        layer_sizes: dict[str, int] = {}
        for layer in enc.layers:
            key = registry.kind_key(pipeline_name, layer.kind)
            layer_sizes[key] = layer_sizes.get(key, 0) + len(layer.data)
        yield RDPoint(
            image=image_name,
            pipeline=pipeline_name,
            param=spec.name,
            value=value,
            width=w,
            height=h,
            file_bytes=len(data),
            payload_bytes=payload,
            bpp=metrics.bpp(len(data), w, h),
            bpp_payload=metrics.bpp(payload, w, h),
            psnr_rgb=metrics.psnr_rgb(image, decoded),
            ms_ssim_rgb=metrics.ms_ssim_rgb(image, decoded),
            haarpsi=metrics.haarpsi(image, decoded),
            border_db=(metrics.border_cost(image, decoded, BORDER)["cost_db"]
                       if min(h, w) > 2 * BORDER else None),
            encode_s=encode_s,
            decode_s=decode_s,
            layers=layer_sizes,
            params=dict(params),
            task=scorer.score(decoded, enc.views) if scorer is not None else {},
        )


class TaskScorer:
    """Scores decoded images for ``edms eval --task`` (:mod:`app.tasks`): the *analysed*
    accuracy of a fixed reference network on the decoded image and the *carried* accuracy
    of the semantics the file delivers itself (its pipeline's views). ``truth`` is the
    ground truth of the image being evaluated (an HxW class map or a class index).

    The carried semantics are read from the encoder's views: every pipeline decodes
    bit-exactly, and its decoder computes (or reads from the file) the same map or classes.
    """

    def __init__(self, task: str, truth: np.ndarray | int, config: str = "lite",
                 reference: str = "") -> None:
        self.task, self.truth = task, truth
        self.analyse = reference_analyser(task, config, reference)

    def score(self, decoded: np.ndarray, views: Mapping[str, Any]) -> dict[str, Any]:
        return self.score_and_predict(decoded, views)[0]

    def score_and_predict(self, decoded: np.ndarray, views: Mapping[str, Any]
                          ) -> tuple[dict[str, Any], Any]:
        """:meth:`score` and the reference network's own output on ``decoded`` (its class
        map, or its top-5 classes), which the workbench shows against the ground truth."""
        got = carried(self.task, {k: getattr(v, "array", v) for k, v in views.items()})
        pred = self.analyse(decoded)
        if self.task == "segmentation":
            truth = self.truth
            assert isinstance(truth, np.ndarray)
            return {"analysed": segmentation_counts(pred, truth),
                    "carried": segmentation_counts(got, truth)
                    if got is not None and got.shape == truth.shape else None}, pred
        return {"target": int(self.truth), "analysed": list(pred),
                "carried": got[:5] if got is not None else None}, pred


def segmentation_counts(pred: np.ndarray, truth: np.ndarray) -> dict[str, list[int]]:
    """One image's confusion matrix and ground-truth class counts (a point's task data)."""
    sc = SegmentationScore()
    sc.update(pred, truth)
    return {"cm": sc.cm.ravel().tolist(), "tc": sc.target_count.tolist()}


def reference_net(task: str, reference: str = "") -> str:
    """The reference network's name: ``reference`` checked against the task's networks,
    or the task's default (the pipelines' specs declare them,
    :func:`app.pipelines.registry.references`)."""
    return registry.reference(task, reference).name


def reference_analyser(task: str, config: str = "lite", reference: str = ""
                       ) -> Callable[[np.ndarray], Any]:
    """The fixed reference network of a task, as its spec declares it: an image's HxW class
    map (segmentation) or its top-5 class indices (classification)."""
    return registry.reference(task, reference).analyser(config)


def reference_fingerprint(task: str, config: str = "lite", reference: str = "") -> bytes:
    """Fingerprint of the task's reference network (part of a cached point's key): of its
    weights in the zoo, else of its declaration."""
    ref = registry.reference(task, reference)
    if not ref.weights:
        return hashlib.sha256(f"{ref.impl}\n{ref.version}\n{config}".encode()).digest()[:8]
    from app.nets import zoo  # reads the weights' manifest; defers torch until needed

    return zoo.fingerprint(ref.weights, config)


def task_accuracy(task: str, data: Sequence[dict[str, Any]], which: str
                  ) -> dict[str, Any] | None:
    """The data-set accuracy of points' task data (``which``: analysed or carried)."""
    got = [d.get(which) for d in data]
    parts = [p for p in got if p is not None]
    if not parts or len(parts) != len(got):
        return None
    if task == "segmentation":
        sc = SegmentationScore()
        for p in parts:
            sc.cm += np.asarray(p["cm"], dtype=np.int64).reshape(sc.n, sc.n)
            sc.target_count += np.asarray(p["tc"], dtype=np.int64)
        return sc.result()
    cs = ClassificationScore()
    for d, p in zip(data, parts, strict=True):
        cs.update(p, int(d["target"]))
    return cs.result()


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (sorted, image suffixes only) and keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


#: the width in pixels of the image border whose cost every point records (border_db)
BORDER = 4
_MEAN_KEYS = ("bpp", "bpp_payload", "psnr_rgb", "ms_ssim_rgb", "haarpsi", "encode_s", "decode_s")
_JSON_NAMES = {
    "bpp": "bpp",
    "bpp_payload": "bpp-payload",
    "psnr_rgb": "psnr-rgb",
    "ms_ssim_rgb": "ms-ssim-rgb",
    "haarpsi": "haarpsi",
    "encode_s": "encoding_time",
    "decode_s": "decoding_time",
}


def aggregate(points: Sequence[RDPoint], hull_only: bool = False) -> dict[str, dict]:
    """Mean over images per pipeline and parameter setting, CompressAI-style.

    Returns ``{pipeline: {"name", "description", "param", "params", "results", "hull"}}``,
    the results lists ordered by increasing bpp, with one list per rate parameter (named
    after it). ``hull`` holds the indices of the RD frontier (:func:`rd_hull` on mean bpp
    and PSNR); with ``hull_only`` the results keep only those rows. Infinite PSNRs
    (lossless points) are kept as ``inf`` in the mean, which makes the point infinite: it
    is reported but not used for BD-rates.
    """
    by_pipe: dict[str, dict[tuple, list[RDPoint]]] = {}
    for p in points:
        by_pipe.setdefault(p.pipeline, {}).setdefault(p.key(), []).append(p)
    out: dict[str, dict] = {}
    for name, by_setting in by_pipe.items():
        first = next(iter(by_setting.values()))[0]
        # the parameters that make a curve: the rate knobs, and a non-rate setting (HEVC's
        # tune) only where this sweep varies it
        try:
            rate = {s.name for s in registry.params(name) if s.rate}
        except PipelineError:  # points of a pipeline not registered here (another build)
            rate = {k for k, _ in first.key()}
        varies = {k for k, _ in first.key()
                  if len({dict(setting).get(k) for setting in by_setting}) > 1}
        names = [first.param] + sorted(k for k, _ in first.key()
                                       if k != first.param and (k in rate or k in varies))
        rows = []
        for setting, pts in by_setting.items():
            row: dict[str, Any] = {k: float(np.mean([getattr(p, k) for p in pts]))
                                   for k in _MEAN_KEYS}
            row["setting"] = dict(setting)
            row["n"] = len(pts)
            borders = [p.border_db for p in pts if p.border_db is not None]
            if len(borders) == len(pts) and all(math.isfinite(b) for b in borders):
                row["border_db"] = float(np.mean(borders))
            row.update(_task_row([p.task for p in pts]))
            rows.append(row)
        rows.sort(key=lambda r: r["bpp"])
        hull = rd_hull([r["bpp"] for r in rows], [r["psnr_rgb"] for r in rows])
        if hull_only:
            rows = [rows[i] for i in hull]
            hull = list(range(len(rows)))
        results: dict[str, list] = {_JSON_NAMES[k]: [r[k] for r in rows] for k in _MEAN_KEYS}
        if all("border_db" in r for r in rows):
            results["border-cost-db"] = [r["border_db"] for r in rows]
        for key in TASK_KEYS:
            if any(key in r for r in rows):
                results[key] = [r.get(key) for r in rows]
        for pname in names:
            results[pname] = [r["setting"].get(pname) for r in rows]
        results["images"] = [r["n"] for r in rows]
        out[name] = {
            "name": name,
            "description": registry.describe(name),
            "param": first.param,
            "params": names,
            "results": results,
            "hull": hull,
        }
    return out


#: accuracy keys of the results (``-carried``: from the file's own semantics)
TASK_KEYS = tuple(k + sfx for k in ("miou", "pixel-acc", "per-class-iou", "top1", "top5")
                  for sfx in ("", "-carried"))


def _task_row(data: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Data-set accuracies of one setting's points (empty without task data)."""
    if not data or not all(data):
        return {}
    task = "classification" if "target" in data[0] else "segmentation"
    row: dict[str, Any] = {}
    for which, sfx in (("analysed", ""), ("carried", "-carried")):
        acc = task_accuracy(task, data, which)
        if acc is None:
            continue
        if task == "segmentation":
            row.update({"miou" + sfx: acc["miou"], "pixel-acc" + sfx: acc["pixel_acc"],
                        "per-class-iou" + sfx: acc["per_class_iou"]})
        else:
            row.update({"top1" + sfx: acc["top1"], "top5" + sfx: acc["top5"]})
    return row


def rising_front(bpp: Sequence[float], quality: Sequence[float | None]
                 ) -> tuple[list[float], list[float]]:
    """The points of a rate-quality curve whose quality beats every cheaper point.

    Machine accuracy saturates: past some rate more bits buy no mIoU, and the curve goes
    flat or wobbles, which a Bjontegaard fit cannot take (it needs quality strictly rising
    with rate). The BD-rate at equal accuracy is therefore computed over this rising part
    only; a curve with fewer than 4 such points (a flat one, e.g. a map that does not
    depend on the rate) has none.
    """
    pts = sorted((b, q) for b, q in zip(bpp, quality, strict=True)
                 if q is not None and math.isfinite(q))
    rates: list[float] = []
    quals: list[float] = []
    for b, q in pts:
        if not quals or q > quals[-1]:
            rates.append(b)
            quals.append(q)
    return rates, quals


def _frontier(entry: dict) -> dict[str, list]:
    """bpp, PSNR and MS-SSIM (in dB, -10 log10(1 - MS-SSIM)) of a summary entry; only its
    RD hull for multi-parameter pipelines."""
    res = entry["results"]
    idx = list(range(len(res["bpp"])))
    if len(entry.get("params", [entry.get("param")])) > 1 and "hull" in entry:
        idx = entry["hull"]
    missing = [math.nan] * len(res["bpp"])  # a published curve may lack one of them
    psnr = res.get("psnr-rgb", missing)
    msssim = [-10 * math.log10(max(1 - m, 1e-10)) if math.isfinite(m) else math.nan
              for m in res.get("ms-ssim-rgb", missing)]
    return {"bpp": [res["bpp"][i] for i in idx], "psnr-rgb": [psnr[i] for i in idx],
            "ms-ssim-db": [msssim[i] for i in idx]}


def bd_table(summary: dict[str, dict], anchor: str) -> dict[str, dict[str, float | None]]:
    """BD-rate (%) and BD-PSNR (dB) of every pipeline against ``anchor`` (over the RD hull
    for pipelines with several rate parameters).

    ``summary`` may hold published curves too (:func:`with_references`): they are rows,
    or the anchor, like any pipeline, and keep their label ``"NAME (published)"``."""
    if anchor not in summary:
        return {}
    ref = _frontier(summary[anchor])
    table: dict[str, dict[str, float | None]] = {}
    for name, entry in summary.items():
        res = _frontier(entry)
        row: dict[str, float | None] = {}
        for key, fn in (("bd-rate-%", metrics.bd_rate), ("bd-psnr-db", metrics.bd_psnr)):
            try:
                row[key] = fn(ref["bpp"], ref["psnr-rgb"], res["bpp"], res["psnr-rgb"])
            except ValueError:
                row[key] = None
        try:  # the same at equal MS-SSIM (in dB, as plotted)
            row["bd-rate-msssim-%"] = metrics.bd_rate(ref["bpp"], ref["ms-ssim-db"],
                                                     res["bpp"], res["ms-ssim-db"])
        except ValueError:
            row["bd-rate-msssim-%"] = None
        for acc in ("miou", "top1"):  # bits saved at equal accuracy, against the anchor
            ref_acc = summary[anchor]["results"].get(acc)
            for sfx in ("", "-carried"):
                got = entry["results"].get(acc + sfx)
                if ref_acc is None or got is None:
                    continue
                try:
                    row[f"bd-rate-{acc}{sfx}-%"] = metrics.bd_rate(
                        *rising_front(summary[anchor]["results"]["bpp"], ref_acc),
                        *rising_front(entry["results"]["bpp"], got))
                except ValueError:
                    row[f"bd-rate-{acc}{sfx}-%"] = None
        table[name] = row
    return table


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def write_json_atomic(path: str | Path, obj: object) -> None:
    write_bytes_atomic(path, json.dumps(obj, indent=2, default=_finite))


def with_references(summary: dict[str, dict], references: Sequence[ReferenceCurve] = ()
                    ) -> dict[str, dict]:
    """``summary`` followed by the published curves' entries (keyed by their label,
    ``"NAME (published)"``, each with ``"published": True``)."""
    return {**summary, **summary_entries(references)}


def results_document(points: Sequence[RDPoint], anchor: str | None,
                     hull_only: bool = False,
                     references: Sequence[ReferenceCurve] = ()) -> dict:
    """The JSON written by ``edms eval``: summaries, BD table and per-image rows.

    ``references`` (published curves, :mod:`app.refcurves`) are listed apart from the
    measured pipelines, under ``"references"``, and take part in the BD table; ``anchor``
    may be one of their labels."""
    summary = aggregate(points, hull_only)
    doc: dict = {
        "tool": "edms-workbench",
        "bpp": "whole .edms file (bpp-payload: layers only)",
        "pipelines": list(summary.values()),
        "per_image": [asdict(p) for p in points],
    }
    if references:
        doc["references"] = list(summary_entries(references).values())
    if hull_only:
        doc["hull_only"] = True
    if anchor:
        doc["anchor"] = anchor
        doc["bd"] = bd_table(with_references(aggregate(points), references), anchor)
    return _sanitize(doc)


def _sanitize(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else ("inf" if obj > 0 else ("-inf" if obj < 0 else "nan"))
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitize(v) for v in obj]
    return obj


def plot_rd(summary: dict[str, dict], path: str | Path, title: str = "",
            references: Sequence[ReferenceCurve] = ()) -> None:
    """RD plot (PSNR, MS-SSIM and HaarPSI vs bpp) with matplotlib, written atomically.

    A multi-parameter pipeline is drawn as its grid points (small markers) plus its RD hull
    (the line), since joining all its points by rising bpp would zigzag. Published curves
    (``references``) are dashed, with small markers, labelled ``"NAME (published)"``, on
    the axes whose metric their file has.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from app.plotstyle import pipeline_styles

    styles = pipeline_styles(summary)  # as the workbench window draws them
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    for name, entry in summary.items():
        st = styles[name]
        r = entry["results"]
        rows = [
            (b, p, -10 * math.log10(max(1 - m, 1e-10)), hp, i)
            for i, (b, p, m, hp) in enumerate(
                zip(r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"], r["haarpsi"], strict=True))
            if math.isfinite(p)
        ]
        if not rows:
            continue
        multi = len(entry.get("params", [entry.get("param")])) > 1
        line = [t for t in rows if t[4] in set(entry.get("hull", []))] if multi else rows
        for k, ax in enumerate(axes, start=1):
            ax.plot([t[0] for t in line], [t[k] for t in line], marker=st.marker, ms=5,
                    color=st.hex, ls="--" if st.dashed else "-", mec="k", mew=0.5,
                    label=name + (" (hull)" if multi else ""))
            if multi:
                ax.plot([t[0] for t in rows], [t[k] for t in rows], ls="none",
                        marker=st.marker, ms=3, alpha=0.5, color=st.hex)
    for curve in references:
        r = curve.results
        ys = {1: r.get("psnr-rgb"),
              2: [-10 * math.log10(max(1 - m, 1e-10)) for m in r["ms-ssim-rgb"]]
              if "ms-ssim-rgb" in r else None,
              3: r.get("haarpsi")}
        color = None
        for k, ax in enumerate(axes, start=1):
            if ys[k] is not None:
                (drawn,) = ax.plot(r["bpp"], ys[k], ls="--", lw=1.2, marker="x", ms=4,
                                   color=color, label=curve.label)
                color = drawn.get_color()  # the same colour on every axis
    axes[0].set_ylabel("PSNR-RGB (dB)")
    axes[1].set_ylabel("MS-SSIM (dB, -10 log10(1 - MS-SSIM))")
    axes[2].set_ylabel("HaarPSI (higher is better)")
    for ax in axes:
        ax.set_xlabel("bpp (whole .edms file" + ("; published: their own files)"
                                                 if references else ")"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)


def _save_figure(fig: Any, path: str | Path) -> None:
    """Write a matplotlib figure atomically (format from the suffix) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)


def plot_accuracy(summary: dict[str, dict], path: str | Path, title: str = "",
                  ceiling: float | None = None) -> None:
    """Rate-accuracy plot (mIoU or top-1 against bpp), written atomically: the analysed
    accuracy as solid lines, the carried one (the file's own semantics) dashed, and the
    reference network's accuracy on the uncompressed images as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "miou" if any("miou" in e["results"] for e in summary.values()) else "top1"
    from app.plotstyle import pipeline_styles

    styles = pipeline_styles(summary)  # as the workbench window draws them
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, entry in summary.items():
        r = entry["results"]
        st = styles[name]
        for sfx, style in (("", "-"), ("-carried", "--")):
            acc = r.get(key + sfx)
            if acc is None:
                continue
            pts = sorted((b, a) for b, a in zip(r["bpp"], acc, strict=True)
                         if a is not None and math.isfinite(a))
            if pts:
                ax.plot([b for b, _ in pts], [a for _, a in pts], style, marker=st.marker,
                        ms=4, color=st.hex, mec="k", mew=0.5,
                        label=f"{name} ({'carried' if sfx else 'analysed'})")
    if ceiling is not None and math.isfinite(ceiling):
        ax.axhline(ceiling, color="k", lw=0.8, ls=":", label="reference net, uncompressed")
    ax.set_xlabel("bpp (whole .edms file)")
    ax.set_ylabel("mIoU (CamVid classes, void ignored)" if key == "miou" else "top-1 accuracy")
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title)
    _save_figure(fig, path)
