"""Rate-distortion evaluation of pipelines over images (CompressAI's ``eval_model``).

For every image and pipeline the rate-independent work runs once
(:meth:`Pipeline.prepare`) and only :meth:`Pipeline.encode_prepared` runs per QP or
quality. Each point is serialised to a real ``.edms`` file in memory, decoded back from
those bytes, and checked to equal the encoder's reconstruction bit for bit; bpp is
computed from the whole file (the honest figure) and from the payload alone.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

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


def sweep_values(pipeline: str, values: Sequence[int] | None) -> list[int]:
    """The given values, or the pipeline's default sweep."""
    spec = registry.get(pipeline).params[0]
    return list(values) if values else list(spec.sweep)


def evaluate_image(
    image: np.ndarray,
    image_name: str,
    pipeline_name: str,
    values: Sequence[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[RDPoint]:
    """Yield one :class:`RDPoint` per rate value, preparing the image once."""
    pipeline = registry.get(pipeline_name)
    spec = pipeline.params[0]
    h, w = image.shape[:2]
    t0 = time.perf_counter()
    prepared = pipeline.prepare(image)
    prepare_s = time.perf_counter() - t0
    for value in sweep_values(pipeline_name, values):
        if should_stop is not None and should_stop():
            return
        params = pipeline.check_params({spec.name: value})
        t0 = time.perf_counter()
        enc = pipeline.encode_prepared(prepared, params)
        data = to_bytes(enc)
        encode_s = prepare_s + time.perf_counter() - t0
        t0 = time.perf_counter()
        decoded = pipeline.decode(from_bytes(data))
        decode_s = time.perf_counter() - t0
        if enc.reconstruction is not None and not np.array_equal(decoded, enc.reconstruction):
            raise PipelineError(
                f"{pipeline_name} {spec.name}={value} on {image_name}: the decoder did not "
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


def aggregate(points: Sequence[RDPoint]) -> dict[str, dict]:
    """Mean over images per pipeline and rate value, CompressAI-style.

    Returns ``{pipeline: {"name", "description", "param", "results": {...}}}``, the
    results lists ordered by increasing bpp. Infinite PSNRs (lossless points) are kept
    as ``inf`` in the mean, which makes the point infinite: it is reported but not used
    for BD-rates.
    """
    by_pipe: dict[str, dict[int, list[RDPoint]]] = {}
    for p in points:
        by_pipe.setdefault(p.pipeline, {}).setdefault(p.value, []).append(p)
    out: dict[str, dict] = {}
    for name, by_value in by_pipe.items():
        rows = []
        for value, pts in by_value.items():
            row = {k: float(np.mean([getattr(p, k) for p in pts])) for k in _MEAN_KEYS}
            row["value"] = value
            row["n"] = len(pts)
            rows.append(row)
        rows.sort(key=lambda r: r["bpp"])
        results = {_JSON_NAMES[k]: [r[k] for r in rows] for k in _MEAN_KEYS}
        results[pts[0].param] = [r["value"] for r in rows]
        results["images"] = [r["n"] for r in rows]
        out[name] = {
            "name": name,
            "description": registry.describe(name),
            "param": pts[0].param,
            "results": results,
        }
    return out


def bd_table(summary: dict[str, dict], anchor: str) -> dict[str, dict[str, float | None]]:
    """BD-rate (%) and BD-PSNR (dB) of every pipeline against ``anchor``."""
    if anchor not in summary:
        return {}
    ref = summary[anchor]["results"]
    table: dict[str, dict[str, float | None]] = {}
    for name, entry in summary.items():
        res = entry["results"]
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


def results_document(points: Sequence[RDPoint], anchor: str | None) -> dict:
    """The JSON written by ``edms eval``: summaries, BD table and per-image rows."""
    summary = aggregate(points)
    doc: dict = {
        "tool": "edms-workbench",
        "bpp": "whole .edms file (bpp-payload: layers only)",
        "pipelines": list(summary.values()),
        "per_image": [asdict(p) for p in points],
    }
    if anchor:
        doc["anchor"] = anchor
        doc["bd"] = bd_table(summary, anchor)
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
    """RD plot (PSNR and MS-SSIM vs bpp) with matplotlib, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, entry in summary.items():
        r = entry["results"]
        pts = [
            (b, p, m)
            for b, p, m in zip(r["bpp"], r["psnr-rgb"], r["ms-ssim-rgb"], strict=True)
            if math.isfinite(p)
        ]
        if not pts:
            continue
        b, p, m = zip(*pts, strict=True)
        axes[0].plot(b, p, marker="o", ms=3, label=name)
        axes[1].plot(b, [-10 * math.log10(max(1 - v, 1e-10)) for v in m], marker="o", ms=3,
                     label=name)
    axes[0].set_ylabel("PSNR-RGB (dB)")
    axes[1].set_ylabel("MS-SSIM (dB, -10 log10(1 - MS-SSIM))")
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
