"""Reviving the dead latent channels of a trained scale-hyperprior codec.

Rate–distortion training kills latent channels: a channel whose gained values stay
below 0.5 always rounds to zero, costs no bits, and, because the synthesis is fed the
*rounded* latent (:func:`app.nets.hyperprior.decoder_input`, mixed quantisation), its
consumer weights receive no gradient and the producer's only gradient runs through those
(near-zero) consumers. Such a channel never comes back. Measured on the shipped lite
hyperprior (M = 384) on held-out photographs: at the top quality only 159 of the 384
channels are ever non-zero; the 128 channels added by :mod:`app.train.widen` died within
the first 1 500 steps (their gained values are below 0.11), and with them the reason for
widening: the synthesis fed the unquantised latent still stops near 35 dB, while a linear
transform of 384 channels (PCA of 16x16 patches) reaches 40 dB.

:func:`dead_channels` finds the channels of y that are (almost) never non-zero at the top
quality; :func:`revive_channels` re-initialises them so they carry information again:

- producer (g_a's last convolution): fresh random rows with half the live rows' mean
  norm, no bias (at full norm they were non-zero more often than the live channels);
- gain units: each quality's median live gain and inverse gain;
- consumers: g_s's first deconvolution and h_a's first convolution read zero weights from
  them, so the decoded image and ẑ do not change. Small random consumer rows (5 % of the
  live rows' norm) were tried first: the revived channels then only added noise to the
  image, and the cheapest cure the optimiser found was to shrink their gains: 206 of 225
  were dead again after 1 256 steps. Zero consumers do no harm, and their gradient (the
  revived values, non-zero at the high qualities, times the image's error) teaches the
  synthesis to use them;
- h_s's last convolution predicts the revived channels' scales with the live channels'
  mean row, a sensible σ to start from.

The channels then cost bits before the synthesis has learned to use them, which is how
they died; :func:`rate_weights` therefore lets the trainer count their rate from zero up
to fully over a ramp of steps (``edms train hyperprior --revive ... --revive-ramp``).

Written by hand: dead-channel revival for learned codecs is described in papers, but no
maintained library does it for GDN codecs with gain units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


@torch.no_grad()
def active_fraction(model: Any, crops: Iterable[torch.Tensor], quality: int
                    ) -> torch.Tensor:
    """Per channel of y, the fraction of latent elements that round to non-zero at
    ``quality`` (0-based) over ``crops`` (each (B, 3, H, W) in [0, 1]); ``model`` is a
    :class:`~app.nets.hyperprior.ScaleHyperprior`."""
    was_training = model.training
    model.eval()
    total, count = torch.zeros(int(model.M)), 0
    try:
        for x in crops:
            gain, _ = model.gains(torch.full((x.shape[0],), float(quality)))
            y, _ = model.g_a(x)
            nz = torch.round(y * gain[:, : y.shape[1]]) != 0
            total += nz.float().sum((0, 2, 3))
            count += nz.shape[0] * nz.shape[2] * nz.shape[3]
    finally:
        model.train(was_training)
    return total / max(1, count)


def dead_channels(fraction: torch.Tensor, threshold: float) -> torch.Tensor:
    """Indices of the channels whose non-zero fraction is below ``threshold``."""
    if not 0 < threshold < 1:
        raise ValueError(f"the dead-channel threshold must be in (0, 1), got {threshold}")
    return (fraction < threshold).nonzero().flatten()


@torch.no_grad()
def revive_channels(model: Any, dead: torch.Tensor, seed: int = 0,
                    producer_scale: float = 0.5) -> None:
    """Re-initialise the channels ``dead`` of y in ``model`` (see the module docstring).

    Deterministic for a given ``seed``, so every process of a distributed run revives the
    same way. At least one channel must stay alive (the live rows set the scales)."""
    m = int(model.M)
    dead = torch.as_tensor(dead, dtype=torch.long).flatten()
    if dead.numel() == 0:
        return
    if int(dead.min()) < 0 or int(dead.max()) >= m:
        raise ValueError(f"channel indices must lie in [0, {m})")
    live_mask = torch.ones(m, dtype=torch.bool)
    live_mask[dead] = False
    live = live_mask.nonzero().flatten()
    if live.numel() == 0:
        raise ValueError("no live channel left to take the scales from")
    g = torch.Generator().manual_seed(seed)

    def random_rows(like: torch.Tensor, norm: float) -> torch.Tensor:
        r = torch.randn((dead.numel(), *like.shape[1:]), generator=g)
        return r * (norm / r.flatten(1).norm(dim=1).clamp_min(1e-12)).view(-1, *[1] * (r.dim() - 1))

    producer = model.g_a.convs[-1]
    w = producer.weight  # (M, N, k, k): output channel = latent channel
    w[dead] = random_rows(w, producer_scale * float(w[live].flatten(1).norm(dim=1).mean())).to(w)
    if producer.bias is not None:
        producer.bias[dead] = 0.0
    model.g_s[0].weight[dead] = 0.0  # ConvTranspose2d (M, N, k, k): input channel first
    model.h_a[0].weight[:, dead] = 0.0  # Conv2d (Nh, M, k, k)
    scale_head = model.h_s[-2]  # conv(Nh, M) before the final ReLU
    scale_head.weight[dead] = scale_head.weight[live].mean(0, keepdim=True)
    if scale_head.bias is not None:
        scale_head.bias[dead] = scale_head.bias[live].mean()
    for table in (model.gains.gain, model.gains.inv_gain):
        median = table[:, live].abs().median(dim=1, keepdim=True).values
        table[:, dead] = median.expand(-1, dead.numel())


def rate_weights(channels: int, revived: torch.Tensor, step: int, ramp: int) -> torch.Tensor:
    """(channels,) weights of each channel's rate in the loss at ``step``: 1 for every
    channel, except the ``revived`` ones, which go linearly from 0 at step 0 to 1 at
    ``ramp`` (and stay at 1 after)."""
    w = torch.ones(channels)
    if ramp > 0 and step < ramp and len(revived):
        w[torch.as_tensor(revived, dtype=torch.long)] = step / ramp
    return w
