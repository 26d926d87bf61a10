"""Side-by-side comparison at a target rate (``edms compare IMAGE --bpp 0.1 -p ...``).

For every pipeline a setting near the target whole-file bpp is searched by
:func:`app.api.closest_setting`, the rule the GUI's Match bitrate uses too: a binary
search of the first rate parameter (bpp is monotone in a QP or quality knob) for every
combination of the other parameters' sweep values (SMIC: sampling factor 4 and 8 at map
scale 8), which ``overrides`` (``--param``) can replace. Of the candidates within
``api.TOLERANCE`` of the target (or the closest one, if none is), the one with the highest
PSNR-RGB is taken, so that a multi-parameter pipeline is shown at its best setting for
that rate rather than at an arbitrary one that happens to be closest. The chosen
encodings are serialised, decoded back from their bytes (and checked against the
encoder's reconstruction), and drawn next to the original with their numbers in a label
strip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app import api, metrics
from app.pipelines import registry


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


def pick(image: np.ndarray, name: str, target_bpp: float,
         overrides: dict[str, list[int]] | None = None) -> Pick:
    """Search (:func:`app.api.closest_setting`), then decode ``name``'s chosen file from
    its bytes and check it (:func:`app.api.decode_checked`)."""
    pipeline = registry.get(name)
    coded = api.closest_setting(pipeline, image, target_bpp, overrides)
    decoded, _ = api.decode_checked(pipeline, coded.data, coded.encoded.reconstruction, name)
    h, w = image.shape[:2]
    return Pick(name, dict(coded.encoded.params), coded.file_bytes,
                8.0 * coded.file_bytes / (w * h), metrics.psnr_rgb(image, decoded),
                metrics.haarpsi(image, decoded), metrics.ms_ssim_rgb(image, decoded), decoded)


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
