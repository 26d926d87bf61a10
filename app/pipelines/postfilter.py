"""Running PostNet (:mod:`app.nets.postnet`), the decoder-side post-filter of the ``-pf``
layered pipelines (our extension), identically in encoder and decoder.

The filtered image is what the decoder outputs, so the encoder computes it too (its
``reconstruction``); both go through :mod:`app.pipelines.netrun` (fixed thread count,
size-only tiling, 8-bit rounding), so they agree bit for bit.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from app.pipelines.netrun import UNIT, fixed_threads, tiled, uint8_tensor


class PostFilter:
    """The shipped ``postnet-<config>`` weights, loaded once."""

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        from app.nets import zoo

        self.device = torch.device(device)
        self.model, self.manifest = zoo.load_model("postnet", config, self.device)

    def __call__(self, x_hat: np.ndarray, prediction: np.ndarray, qp: int) -> np.ndarray:
        """PostNet(x_hat, x', QP) as HxWx3 uint8 (x_hat and x' HxWx3 uint8).

        Tiles go in as uint8 and come out rounded to uint8, so no full-size float copy of
        the image exists (a 24-megapixel image would need 288 MB per copy)."""
        h, w = x_hat.shape[:2]

        def run(ta: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
            y = self.model(ta.float() / 255.0, tb.float() / 255.0, float(qp)) * 2 - 1
            return torch.round(y.clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)

        with fixed_threads():
            out = tiled(run, [(uint8_tensor(x_hat).to(self.device), UNIT),
                              (uint8_tensor(prediction).to(self.device), UNIT)], UNIT, h, w).cpu()
        return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


@functools.cache
def shared_post_filter(config: str = "lite", device: str = "cpu") -> PostFilter:
    """One loaded PostNet per configuration and device, shared by the pipelines."""
    return PostFilter(config, device)
