"""Running PostNet (:mod:`app.nets.postnet`), the decoder-side post-filter of the ``-pf``
layered pipelines and of ``hevc-pf`` / ``hevc-spf`` (our extension), identically in
encoder and decoder.

The filtered image is what the decoder outputs, so the encoder computes it too (its
``reconstruction``); both go through :mod:`app.pipelines.netrun` (fixed thread count,
size-only tiling, 8-bit rounding), so they agree bit for bit.

Geometric self-ensemble (``views``): the filter also runs on the mirror images of each
tile and the outputs, mirrored back, are averaged before the 8-bit rounding, as in
EDSR's "+" models (Lim et al., CVPR-W 2017, §4.2 "geometric self-ensemble"). Convolutions
are not mirror-equivariant, so the views' errors are partly independent and their mean is
closer to the original; it costs one filter pass per view. Mirrors only, not transposes:
a mirrored tile keeps its shape, so the tiling and the odd-size padding stay the same.
An image of one tile runs its views on :data:`app.pipelines.netrun.TILE_WORKERS` threads
(one intra-op thread each, summed in a fixed order: the same floats as one after another).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from app.pipelines.netrun import (
    TILE_WORKERS,
    UNIT,
    channels_last,
    fixed_threads,
    map_threads,
    one_tile,
    tiled,
    uint8_tensor,
)

#: The mirrorings of the self-ensemble, in order: ``views`` = n uses the first n (the
#: image; its left-right mirror; its upside-down and its 180-degree-rotated copies).
VIEW_FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))


class PostFilter:
    """Shipped PostNet weights, ``<name>-<config>`` (``postnet`` for the layered
    pipelines, ``postnet-hevc`` / ``postnet-hevc-seg`` for HEVC), loaded once."""

    def __init__(self, config: str = "lite", device: str = "cpu", name: str = "postnet"
                 ) -> None:
        from app.nets import zoo

        self.device = torch.device(device)
        self.model, self.manifest = zoo.load_model(name, config, self.device)
        self.model = channels_last(self.model)

    def __call__(self, x_hat: np.ndarray, prediction: np.ndarray | None, qp: int,
                 seg: np.ndarray | None = None, views: int = 1) -> np.ndarray:
        """PostNet(x_hat, x', QP[, s]) as HxWx3 uint8 (x_hat and x' HxWx3 uint8, x' None
        for a network without it; s an HxW uint8 class map for one with the semantic
        branch), averaged over the first ``views`` mirrorings of :data:`VIEW_FLIPS`.

        Tiles go in as uint8 and come out rounded to uint8, so no full-size float copy of
        the image exists (a 24-megapixel image would need 288 MB per copy)."""
        h, w = x_hat.shape[:2]
        inputs = [(uint8_tensor(x_hat), UNIT)]
        if prediction is not None:
            inputs.append((uint8_tensor(prediction), UNIT))
        if seg is not None:
            inputs.append((torch.from_numpy(np.ascontiguousarray(seg))[None, None], UNIT))
        use_pred, use_seg = prediction is not None, seg is not None
        if not 1 <= views <= len(VIEW_FLIPS):
            raise ValueError(f"views must be in 1..{len(VIEW_FLIPS)}, got {views}")

        def one(ts: tuple[torch.Tensor, ...], dims: tuple[int, ...]) -> torch.Tensor:
            if dims:
                ts = tuple(t.flip(dims) for t in ts)
            xh = ts[0].float() / 255.0
            pred = ts[1].float() / 255.0 if use_pred else None
            y = self.model(xh, pred, float(qp), ts[-1] if use_seg else None)
            return y.flip(dims) if dims else y

        # the views of a one-tile image in parallel; a tiled image's tiles already are
        workers = TILE_WORKERS if one_tile(h, w) else 1

        def run(*ts: torch.Tensor) -> torch.Tensor:
            ys = map_threads(lambda dims: one(ts, dims), VIEW_FLIPS[:views], workers)
            y = ys[0]
            for other in ys[1:]:
                y = y + other
            y = (y / views if views > 1 else y) * 2 - 1
            return torch.round(y.clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)

        with fixed_threads():
            out = tiled(run, [(t.to(self.device), s) for t, s in inputs], UNIT, h, w).cpu()
        return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


@functools.cache
def shared_post_filter(config: str = "lite", device: str = "cpu", name: str = "postnet"
                       ) -> PostFilter:
    """One loaded PostNet per weights name, configuration and device, shared by the
    pipelines."""
    return PostFilter(config, device, name)
