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

- He, Yang, Peng, Ma, Qin, Wang, "ELIC: Efficient Learned Image Compression with Unevenly
  Grouped Space-Channel Contextual Adaptive Coding", CVPR 2022, §3.2-3.3: the channels are
  also split into groups of uneven sizes (16, 16, 32, 64, the rest for 320 channels: here
  1/16, 1/16, 1/8, 1/4 and the rest), coded one after the other *within* each of the two
  passes; a group's parameters also see the groups before it (a 1x1 convolution of their
  values at the positions of the pass, added to the first layer of the entropy-parameters
  network). Both passes stay parallel over positions; the latent is coded in 2·G steps.
  Unlike ELIC, every pass sees the anchors of *all* channels (the non-anchors' spatial
  context is as above), so the channel context is a zero-initialised addition to a trained
  checkerboard model (its start is exactly that model).

Here the parameters network refines the scale hyperprior's σ rather than replacing it:
σ = σ_h · exp(δ) and μ = m, with (δ, m) = f([log σ_h, context]) and f's last convolution
zero at initialisation, so a network built on trained scale-hyperprior weights starts as
exactly that codec and learns only what the context and the means add (trainable alone,
with the transforms frozen: ``edms train ... --entropy-only``, :mod:`app.train.e2e`).

The reconstruction grid does not move: ŷ = round(y) as before, and the means only shape
the probabilities of those integers (the tables are per scale index *and* per eighth of
a unit of the mean, :data:`MEAN_STEPS`), so a decoder rebuilds the same image whatever the
means and the codec's distortion is unchanged by this model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def group_sizes(channels: int, groups: int) -> list[int]:
    """The channel groups' sizes, in coding order: ELIC's uneven split generalised (module
    docstring). groups = 5: 1/16, 1/16, 1/8, 1/4 of the channels and the rest (half);
    groups = 1: all channels at once (no channel context)."""
    if groups <= 1:
        return [channels]
    sizes = [max(1, channels >> (groups - 1))]
    sizes += [max(1, channels >> (groups - k)) for k in range(1, groups - 1)]
    sizes.append(channels - sum(sizes))
    if sizes[-1] < 1:
        raise ValueError(f"{channels} channels cannot make {groups} groups")
    return sizes


class CheckerboardParameters(nn.Module):
    """The context convolution and the entropy-parameters network (module docstring)."""

    def __init__(self, channels: int, hidden: int, groups: int = 1) -> None:
        super().__init__()
        self.channels = channels
        sizes = group_sizes(channels, groups)
        #: first channel of each group, and the channel count at the end
        self.starts = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
        self.context = nn.Conv2d(channels, channels, 5, padding=2)
        self.params = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, 2 * channels, 1))
        last = self.params[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        # the channel context: the groups before, into the first hidden layer (zero start)
        self.channel_context = (nn.Conv2d(channels, hidden, 1, bias=False)
                                if len(sizes) > 1 else None)
        if self.channel_context is not None:
            nn.init.zeros_(self.channel_context.weight)

    @property
    def groups(self) -> int:
        return len(self.starts) - 1

    def anchor_context(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Context of every position from the anchors of ``y_hat`` alone, zero at the
        anchors themselves (the non-anchors of ``y_hat`` are ignored: replaced by +0.0, so
        an encoder holding them and a decoder that has not decoded them yet convolve the
        very same tensor)."""
        mask = anchor_mask(y_hat.shape[-2], y_hat.shape[-1], device=y_hat.device)
        anchors = torch.where(mask.bool(), y_hat, torch.zeros_like(y_hat))
        return self.context(anchors) * (1 - mask.to(y_hat.dtype))

    def base(self, sigma_h: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """The first layer of the entropy-parameters network on [log σ_h, context] (None:
        zero, the anchors' pass), before its activation: shared by the groups of a pass."""
        log_s = torch.log(sigma_h.clamp_min(SCALE_MIN))
        ctx = torch.zeros_like(log_s) if context is None else context
        return self.params[0](torch.cat([log_s, ctx], dim=1))

    def group_params(self, sigma_h: torch.Tensor, base: torch.Tensor,
                     before: torch.Tensor | None, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, μ) of group ``k``'s channels. ``before``: the values of the channels of the
        groups before ``k`` (``starts[k]`` channels; None for the first group), read by a
        1x1 convolution, so only at the position itself."""
        h = base
        if before is not None and self.channel_context is not None:
            h = h + F.conv2d(before, self.channel_context.weight[:, : self.starts[k]])
        # not the modules' in-place activations: ``base`` is shared by the pass's groups
        act, last = self.params[1], self.params[4]
        assert isinstance(act, nn.LeakyReLU) and isinstance(last, nn.Conv2d)
        assert last.bias is not None
        slope = act.negative_slope
        h = F.leaky_relu(self.params[2](F.leaky_relu(h, slope)), slope)
        c0, c1, c = self.starts[k], self.starts[k + 1], self.channels
        # only this group's rows of the last layer: its δ, then its μ
        w = torch.cat([last.weight[c0:c1], last.weight[c + c0:c + c1]])
        b = torch.cat([last.bias[c0:c1], last.bias[c + c0:c + c1]])
        delta, mean = F.conv2d(h, w, b).split(c1 - c0, dim=1)
        return sigma_h[:, c0:c1] * torch.exp(delta), mean

    def pass_params(self, sigma_h: torch.Tensor, context: torch.Tensor | None,
                    y_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, μ) of every channel for one pass, each group from the groups before it, as
        the decoder finds them at the pass's positions (the channel context is 1x1: a
        position reads only itself, where the groups before are decoded)."""
        base = self.base(sigma_h, context)
        out = [self.group_params(sigma_h, base, y_hat[:, : self.starts[k]] if k else None, k)
               for k in range(self.groups)]
        return torch.cat([s for s, _ in out], 1), torch.cat([m for _, m in out], 1)

    def both_passes(self, sigma_h: torch.Tensor, y_hat: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(σ, μ) at every position as the decoder finds them: the anchors' from the
        hyperprior (and the anchors of the groups before), the non-anchors' with the
        context of ``y_hat``'s anchors (and the non-anchors of the groups before)."""
        mask = anchor_mask(y_hat.shape[-2], y_hat.shape[-1], device=y_hat.device).to(y_hat.dtype)
        s_a, m_a = self.pass_params(sigma_h, None, y_hat)
        s_n, m_n = self.pass_params(sigma_h, self.anchor_context(y_hat), y_hat)
        return s_a * mask + s_n * (1 - mask), m_a * mask + m_n * (1 - mask)

    forward = both_passes
