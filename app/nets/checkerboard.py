"""Checkerboard context and mean-scale entropy parameters for the hyperprior family.

- He, Zheng, Sun, Wang, Qin, "Checkerboard Context Model for Efficient Learned Image
  Compression", CVPR 2021, §3.2-3.3: the latent's positions are split like a checkerboard
  into *anchors* ((i + j) even) and *non-anchors*. Anchors are coded first, with entropy
  parameters from the hyperprior alone (their context is zero); non-anchors are coded
  second, with parameters that also see a 5x5 convolution of the decoded anchors around
  them. Two passes instead of one per position (Minnen et al.'s serial context), so decoding
  stays parallel.
- Minnen, Ballé, Toderici, "Joint Autoregressive and Hierarchical Priors for Learned Image
  Compression", NeurIPS 2018, §2 and Fig. 4: each latent element is a Gaussian with a mean
  *and* a scale, produced by an *entropy parameters* network of 1x1 convolutions from the
  hyper-decoder's output and the context.

Here the parameters network refines the scale hyperprior's σ rather than replacing it:
σ = σ_h · exp(δ) and μ = m, with (δ, m) = f([log σ_h, context]) and f's last convolution
zero at initialisation, so a network built on trained scale-hyperprior weights starts as
exactly that codec and learns only what the context and the means add (trainable alone,
with the transforms frozen: :mod:`app.train.entropy_model`).

The reconstruction grid does not move: ŷ = round(y) as before, and the means only shape
the probabilities of those integers (the tables are per scale index *and* per quarter of
a unit of the mean, :data:`MEAN_STEPS`), so a decoder rebuilds the same image whatever the
means and the codec's distortion is unchanged by this model.
"""

from __future__ import annotations

import torch
from torch import nn

from app.entropy.models import SCALE_MIN

#: the means are quantised to this many steps per unit before coding: the tables are per
#: scale index and per fractional step (:meth:`GaussianConditional.mean_tables`). The cost
#: of quantising, for a mean spread evenly over a unit, is 0.015 bits per element at the
#: smallest scale (0.11, where an element costs 0.29 bits), 0.003 at σ = 0.5 and under
#: 0.001 from σ = 1 (a quarter step costs 4.5 times as much: 0.067 at σ = 0.11)
MEAN_STEPS = 8


def anchor_mask(h: int, w: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, h, w) float mask, 1 at the anchors ((i + j) even), 0 at the non-anchors."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j) % 2 == 0).to(torch.float32).view(1, 1, h, w)


class CheckerboardParameters(nn.Module):
    """The context convolution and the entropy-parameters network (module docstring)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.channels = channels
        self.context = nn.Conv2d(channels, channels, 5, padding=2)
        self.params = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, 2 * channels, 1))
        last = self.params[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def anchor_context(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Context of every position from the anchors of ``y_hat`` alone, zero at the
        anchors themselves (the non-anchors of ``y_hat`` are ignored: replaced by +0.0, so
        an encoder holding them and a decoder that has not decoded them yet convolve the
        very same tensor)."""
        mask = anchor_mask(y_hat.shape[-2], y_hat.shape[-1], device=y_hat.device)
        anchors = torch.where(mask.bool(), y_hat, torch.zeros_like(y_hat))
        return self.context(anchors) * (1 - mask.to(y_hat.dtype))

    def forward(self, sigma_h: torch.Tensor, context: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, μ) from the hyper-decoder's scales and a context (None: zero, the anchors')."""
        log_s = torch.log(sigma_h.clamp_min(SCALE_MIN))
        ctx = torch.zeros_like(log_s) if context is None else context
        delta, mean = self.params(torch.cat([log_s, ctx], dim=1)).chunk(2, dim=1)
        return sigma_h * torch.exp(delta), mean

    def both_passes(self, sigma_h: torch.Tensor, y_hat: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, μ) at every position as the decoder finds them: the anchors' from the
        hyperprior alone, the non-anchors' with the context of ``y_hat``'s anchors."""
        mask = anchor_mask(y_hat.shape[-2], y_hat.shape[-1], device=y_hat.device).to(y_hat.dtype)
        s_a, m_a = self(sigma_h, None)
        s_n, m_n = self(sigma_h, self.anchor_context(y_hat))
        return s_a * mask + s_n * (1 - mask), m_a * mask + m_n * (1 - mask)
