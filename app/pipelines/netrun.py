"""Running the shipped networks identically in encoder and decoder.

The decoder of a layered codec must rebuild the encoder's prediction x' bit for bit
(DSSLIC Algorithm 1: the residual is coded against x'). Floating-point convolutions may
sum in a different order with a different thread count, so every network call here runs
with a fixed number of intra-op threads (:data:`INFERENCE_THREADS`), whatever the caller
set, and outputs are rounded to 8 bit before they leave this module.

Large images are processed in tiles of ``TILE`` pixels with a ``HALO``-pixel margin that
is computed and thrown away; the tiling depends only on the image size, so encoder and
decoder tile alike and peak memory stays bounded (a 24-megapixel image decodes within a
few hundred MB of activations with the lite networks).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

INFERENCE_THREADS = 1
UNIT = 8  # the compact image's down-sampling factor (DSSLIC alpha)
TILE = 1024  # pixels; a multiple of UNIT
HALO = 32  # pixels; a multiple of UNIT

_LOCK = threading.Lock()


def module_on(module: torch.nn.Module, device: torch.device,
              copies: dict[tuple[int, str], torch.nn.Module]) -> Any:
    """``module`` itself for the CPU, else a copy of it on ``device`` (made once and kept
    in ``copies``). The CPU modules never move, so whatever the encoder's analysis runs
    on, the networks whose outputs the decoder must rebuild bit for bit stay on the CPU
    in float32 (see ``docs/pipelines.md``, "Devices")."""
    if device.type == "cpu":
        return module
    key = (id(module), str(device))
    if key not in copies:
        copies[key] = copy.deepcopy(module).to(device).eval()
    return copies[key]


@contextlib.contextmanager
def fixed_threads(n: int = INFERENCE_THREADS) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, then restore the caller's setting."""
    with _LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(before)


def tiled(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[tuple[torch.Tensor, int]],
    out_scale: int,
    height: int,
    width: int,
    tile: int = TILE,
    halo: int = HALO,
) -> torch.Tensor:
    """Apply ``fn`` tile by tile over an image of ``height`` x ``width`` pixels.

    ``inputs`` are ``(tensor, pixels_per_unit)`` pairs: 8 for full-resolution tensors, 1
    for compact-image tensors (one sample per 8x8 block). ``fn`` maps input tiles to an
    output with ``out_scale`` samples per unit. Small images are processed whole.
    """
    hu, wu = -(-height // UNIT), -(-width // UNIT)
    tu, hau = tile // UNIT, halo // UNIT
    if hu <= tu and wu <= tu:
        return fn(*(t for t, _ in inputs))
    out: torch.Tensor | None = None
    out_h = height if out_scale == UNIT else hu * out_scale
    out_w = width if out_scale == UNIT else wu * out_scale
    for y0 in range(0, hu, tu):
        for x0 in range(0, wu, tu):
            y1, x1 = min(y0 + tu, hu), min(x0 + tu, wu)
            ey0, ex0 = max(0, y0 - hau), max(0, x0 - hau)
            ey1, ex1 = min(hu, y1 + hau), min(wu, x1 + hau)
            parts = [t[..., ey0 * s:ey1 * s, ex0 * s:ex1 * s] for t, s in inputs]
            o = fn(*parts)
            if out is None:
                out = torch.empty(*o.shape[:-2], out_h, out_w, dtype=o.dtype)
            # The last tile row/column may end inside the last 8x8 unit (an image side
            # that is not a multiple of UNIT): clip to the output and take as many rows
            # and columns of the tile's output, whatever padding ``fn`` added.
            s = out_scale
            oy1, ox1 = min(y1 * s, out_h), min(x1 * s, out_w)
            ty0, tx0 = (y0 - ey0) * s, (x0 - ex0) * s
            out[..., y0 * s:oy1, x0 * s:ox1] = o[
                ..., ty0:ty0 + oy1 - y0 * s, tx0:tx0 + ox1 - x0 * s
            ]
    assert out is not None
    return out


def uint8_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) uint8 (a quarter of the float copy's memory)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [0, 255]."""
    return uint8_tensor(image).float()


def to_uint8_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [-1, 1] -> HxWx3 uint8 (round half to even, clamped)."""
    v = torch.round(t[0].clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)
    return np.ascontiguousarray(v.permute(1, 2, 0).numpy())
