"""Running PostNet (:mod:`app.nets.postnet`), the decoder-side post-filter of the ``-pf``
layered pipelines (our extension), identically in encoder and decoder.

The filtered image is what the decoder outputs, so the encoder computes it too (its
``reconstruction``); both go through :mod:`app.pipelines.netrun` (fixed thread count,
size-only tiling, 8-bit rounding), so they agree bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from app.pipelines.netrun import UNIT, fixed_threads, image_to_tensor, tiled, to_uint8_image


class PostFilter:
    """The shipped ``postnet-<config>`` weights, loaded once."""

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        from app.nets import zoo

        self.device = torch.device(device)
        self.model, self.manifest = zoo.load_model("postnet", config, self.device)

    def __call__(self, x_hat: np.ndarray, prediction: np.ndarray, qp: int) -> np.ndarray:
        """PostNet(x_hat, x', QP) as HxWx3 uint8 (x_hat and x' HxWx3 uint8)."""
        h, w = x_hat.shape[:2]
        a = image_to_tensor(x_hat) / 255.0
        b = image_to_tensor(prediction) / 255.0

        def run(ta: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
            return self.model(ta, tb, float(qp)) * 2 - 1

        with fixed_threads():
            out = tiled(run, [(a.to(self.device), UNIT), (b.to(self.device), UNIT)], UNIT,
                        h, w).cpu()
        return to_uint8_image(out)


_FILTERS: dict[tuple[str, str], PostFilter] = {}


def shared_post_filter(config: str = "lite", device: str = "cpu") -> PostFilter:
    key = (config, device)
    if key not in _FILTERS:
        _FILTERS[key] = PostFilter(config, device)
    return _FILTERS[key]
