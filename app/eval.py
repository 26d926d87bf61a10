"""Rate-distortion evaluation of pipelines over images (CompressAI's ``eval_model``).

For every image and pipeline the rate-independent work runs once
(:meth:`Pipeline.prepare`) and only :meth:`Pipeline.encode_prepared` runs per point of the
sweep grid: the product of every rate parameter's sweep values (one parameter for most
pipelines; SMIC sweeps sampling factor x QP), each point keyed by its full parameters.
For multi-parameter pipelines the RD frontier is the upper convex hull of the points in
the (bpp, PSNR) plane (:func:`rd_hull`), used for BD-rates and by ``edms eval --hull``.
Each point is serialised to a real ``.edms`` file in memory, decoded back from
those bytes, and checked to equal the encoder's reconstruction bit for bit; bpp is
computed from the whole file (the honest figure) and from the payload alone.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import metrics
from app.atomic import atomic_path, write_bytes_atomic
from app.container import from_bytes, to_bytes
from app.errors import PipelineError
from app.pipelines import registry

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
) -> Iterator[RDPoint]:
    """Yield one :class:`RDPoint` per point of :func:`sweep_grid`, preparing the image once."""
    pipeline = registry.get(pipeline_name)
    spec = pipeline.params[0]
    grid = sweep_grid(pipeline_name, overrides, values)
    h, w = image.shape[:2]
    t0 = time.perf_counter()
    prepared = pipeline.prepare(image)
    prepare_s = time.perf_counter() - t0
    for point in grid:
        if should_stop is not None and should_stop():
            return
        params = pipeline.check_params(point)
        value = params[spec.name]
        label = " ".join(f"{k}={v}" for k, v in point.items())
        t0 = time.perf_counter()
        enc = pipeline.encode_prepared(prepared, params)
        data = to_bytes(enc)
        encode_s = prepare_s + time.perf_counter() - t0
        t0 = time.perf_counter()
        decoded = pipeline.decode(from_bytes(data))
        decode_s = time.perf_counter() - t0
        if enc.reconstruction is not None and not np.array_equal(decoded, enc.reconstruction):
            raise PipelineError(
                f"{pipeline_name} {label} on {image_name}: the decoder did not "
                "rebuild the encoder's reconstruction"
            )
        payload = sum(len(layer.data) for layer in enc.layers)
        layer_sizes: dict[str, int] = {}
        for layer in enc.layers:
            key = layer.kind.name.lower()
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
            encode_s=encode_s,
            decode_s=decode_s,
            layers=layer_sizes,
            params=dict(params),
        )


def find_images(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (sorted, image suffixes only) and keep files as given."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


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
        names = [first.param] + sorted(k for k, _ in first.key() if k != first.param)
        rows = []
        for setting, pts in by_setting.items():
            row: dict[str, Any] = {k: float(np.mean([getattr(p, k) for p in pts]))
                                   for k in _MEAN_KEYS}
            row["setting"] = dict(setting)
            row["n"] = len(pts)
            rows.append(row)
        rows.sort(key=lambda r: r["bpp"])
        hull = rd_hull([r["bpp"] for r in rows], [r["psnr_rgb"] for r in rows])
        if hull_only:
            rows = [rows[i] for i in hull]
            hull = list(range(len(rows)))
        results = {_JSON_NAMES[k]: [r[k] for r in rows] for k in _MEAN_KEYS}
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


def _frontier(entry: dict) -> dict[str, list]:
    """bpp and PSNR of a summary entry; only its RD hull for multi-parameter pipelines."""
    res = entry["results"]
    if len(entry.get("params", [entry.get("param")])) <= 1 or "hull" not in entry:
        return {"bpp": res["bpp"], "psnr-rgb": res["psnr-rgb"]}
    idx = entry["hull"]
    return {"bpp": [res["bpp"][i] for i in idx], "psnr-rgb": [res["psnr-rgb"][i] for i in idx]}


def bd_table(summary: dict[str, dict], anchor: str) -> dict[str, dict[str, float | None]]:
    """BD-rate (%) and BD-PSNR (dB) of every pipeline against ``anchor`` (over the RD hull
    for pipelines with several rate parameters)."""
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
        table[name] = row
    return table


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def write_json_atomic(path: str | Path, obj: object) -> None:
    write_bytes_atomic(path, json.dumps(obj, indent=2, default=_finite))


def results_document(points: Sequence[RDPoint], anchor: str | None,
                     hull_only: bool = False) -> dict:
    """The JSON written by ``edms eval``: summaries, BD table and per-image rows."""
    summary = aggregate(points, hull_only)
    doc: dict = {
        "tool": "edms-workbench",
        "bpp": "whole .edms file (bpp-payload: layers only)",
        "pipelines": list(summary.values()),
        "per_image": [asdict(p) for p in points],
    }
    if hull_only:
        doc["hull_only"] = True
    if anchor:
        doc["anchor"] = anchor
        doc["bd"] = bd_table(aggregate(points), anchor)
    return _sanitize(doc)


def _sanitize(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else ("inf" if obj > 0 else ("-inf" if obj < 0 else "nan"))
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitize(v) for v in obj]
    return obj


def plot_rd(summary: dict[str, dict], path: str | Path, title: str = "") -> None:
    """RD plot (PSNR, MS-SSIM and HaarPSI vs bpp) with matplotlib, written atomically.

    A multi-parameter pipeline is drawn as its grid points (small markers) plus its RD hull
    (the line), since joining all its points by rising bpp would zigzag.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    for name, entry in summary.items():
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
            (drawn,) = ax.plot([t[0] for t in line], [t[k] for t in line], marker="o", ms=3,
                               label=name + (" (hull)" if multi else ""))
            if multi:
                ax.plot([t[0] for t in rows], [t[k] for t in rows], ls="none", marker=".",
                        ms=4, alpha=0.5, color=drawn.get_color())
    axes[0].set_ylabel("PSNR-RGB (dB)")
    axes[1].set_ylabel("MS-SSIM (dB, -10 log10(1 - MS-SSIM))")
    axes[2].set_ylabel("HaarPSI (higher is better)")
    for ax in axes:
        ax.set_xlabel("bpp (whole .edms file)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=130, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
