"""Side-by-side comparison at a target rate (``edms compare IMAGE --bpp 0.1 -p ...``).

For every pipeline a setting near the target whole-file bpp is searched
(:func:`closest_setting`): a binary search of the first rate parameter (bpp is monotone in
a QP or quality knob) for every combination of the other parameters' sweep values (SMIC:
sampling factor 4 and 8 at map scale 8), which ``overrides`` (``--param``) can replace.
Of the candidates within ``TOLERANCE`` of the target (or the closest one, if none is), the
one with the highest PSNR-RGB is taken, so that a multi-parameter pipeline is shown at its
best setting for that rate rather than at an arbitrary one that happens to be closest.
The chosen encodings are serialised, decoded back from their bytes (and checked against
the encoder's reconstruction), and drawn next to the original with their numbers in a label strip.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from app import metrics
from app.container import from_bytes, to_bytes
from app.errors import PipelineError
from app.pipelines import registry
from app.pipelines.base import Encoded, Pipeline

TOLERANCE = 0.1  # relative bpp distance within which candidates compete on PSNR


@dataclass
class Pick:
    """The chosen setting of one pipeline."""

    pipeline: str
    params: dict[str, int]
    file_bytes: int
    bpp: float
    psnr: float
    haarpsi: float
    ms_ssim: float
    decoded: np.ndarray


def _other_values(pipeline: Pipeline, overrides: dict[str, list[int]] | None
                  ) -> list[dict[str, int]]:
    axes = []
    for spec in pipeline.params[1:]:
        vals = (overrides or {}).get(spec.name) or spec.sweep or (spec.default,)
        axes.append([(spec.name, int(v)) for v in vals])
    return [dict(c) for c in itertools.product(*axes)]


def closest_setting(pipeline: Pipeline, image: np.ndarray, target_bpp: float,
                    overrides: dict[str, list[int]] | None = None) -> tuple[Encoded, bytes]:
    """The encoding (and its ``.edms`` bytes) of ``pipeline`` at the target bpp: the best
    PSNR among the candidates within ``TOLERANCE`` of it, else the closest candidate."""
    spec = pipeline.params[0]
    h, w = image.shape[:2]
    prepared = pipeline.prepare(image)
    cache: dict[tuple, tuple[Encoded, bytes]] = {}

    def encode(params: dict[str, int]) -> tuple[Encoded, bytes]:
        key = tuple(sorted(params.items()))
        if key not in cache:
            enc = pipeline.encode_prepared(prepared, pipeline.check_params(params))
            enc.views = {}  # keep only what is needed: many probes per image
            cache[key] = (enc, to_bytes(enc))
        return cache[key]

    def bpp(params: dict[str, int]) -> float:
        return 8.0 * len(encode(params)[1]) / (w * h)

    candidates: list[dict[str, int]] = []
    for other in _other_values(pipeline, overrides):
        values = list(spec.values) if spec.values else list(range(spec.minimum,
                                                                 spec.maximum + 1))
        lo, hi = 0, len(values) - 1
        increasing = spec.higher_is_better  # bpp rises with a quality knob, falls with QP
        while hi - lo > 1:
            mid = (lo + hi) // 2
            below = bpp({**other, spec.name: values[mid]}) < target_bpp
            if below == increasing:
                lo = mid
            else:
                hi = mid
        candidates += [{**other, spec.name: values[i]} for i in sorted({lo, hi})]
    near = [p for p in candidates if abs(bpp(p) - target_bpp) <= TOLERANCE * target_bpp]
    if not near:
        return encode(min(candidates, key=lambda p: abs(bpp(p) - target_bpp)))

    def quality(p: dict[str, int]) -> float:
        enc = encode(p)[0]
        return metrics.psnr_rgb(image, enc.reconstruction) if enc.reconstruction is not None \
            else float("-inf")

    return encode(max(near, key=quality))


def pick(image: np.ndarray, name: str, target_bpp: float,
         overrides: dict[str, list[int]] | None = None) -> Pick:
    """Search, encode, serialise and decode ``name`` at the setting closest to the target."""
    pipeline = registry.get(name)
    enc, data = closest_setting(pipeline, image, target_bpp, overrides)
    params = dict(enc.params)
    decoded = pipeline.decode(from_bytes(data))
    if enc.reconstruction is not None and not np.array_equal(decoded, enc.reconstruction):
        raise PipelineError(f"{name}: the decoder did not rebuild the encoder's image")
    h, w = image.shape[:2]
    return Pick(name, params, len(data), 8.0 * len(data) / (w * h),
                metrics.psnr_rgb(image, decoded), metrics.haarpsi(image, decoded),
                metrics.ms_ssim_rgb(image, decoded), decoded)


def _label(p: Pick | None) -> list[str]:
    if p is None:
        return ["original", ""]
    setting = " ".join(f"{k}={v}" for k, v in p.params.items())
    return [f"{p.pipeline}  {setting}",
            f"{p.bpp:.3f} bpp  PSNR {p.psnr:.2f} dB  HaarPSI {p.haarpsi:.3f}"]


def compose(image: np.ndarray, picks: list[Pick], columns: int = 3) -> np.ndarray:
    """The original and each pick in a grid, each with a two-line label strip above it."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = image.shape[:2]
    size = max(12, min(22, w // 30))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    strip = 2 * size + 12
    tiles = [(image, _label(None))] + [(p.decoded, _label(p)) for p in picks]
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    gap = 6
    canvas = Image.new("RGB", (cols * w + (cols - 1) * gap, rows * (h + strip) + (rows - 1) * gap),
                       (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (arr, lines) in enumerate(tiles):
        x = (i % cols) * (w + gap)
        y = (i // cols) * (h + strip + gap)
        for k, line in enumerate(lines):
            draw.text((x + 4, y + 4 + k * (size + 2)), line, fill=(0, 0, 0), font=font)
        canvas.paste(Image.fromarray(arr), (x, y + strip))
    return np.asarray(canvas)
