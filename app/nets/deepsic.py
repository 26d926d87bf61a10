"""DeepSIC: deep semantic image compression (Luo, Yang, Song), §III of the paper, with the
paper's own feature extraction, quantiser and reconstruction: the ``deepsic-bp-pre`` /
``deepsic-bp-post`` pipelines (bit-plane coded). The shipped ``deepsic-pre`` /
``deepsic-post`` share f and g with a learned transform coder instead
(:mod:`app.nets.deepsic_transform`).

- §III-A feature extraction f: four stages, each a convolution (128 filters of 7x7, then
  5x5, then 3x3 and 3x3 in the paper), a subsampling (4x4, then 2x2 or 1x1, done by the
  convolution's stride) and a batch normalisation. Each stage from the second on also
  receives the previous stage's output through a batch-normalised skip path (average
  pooled to the new resolution, projected by a 1x1 convolution where the channel count
  changes) that is added to its own output (the paper's "adding the batch-normalized
  output of the previous layer to the subsequent layer"). A tanh bounds the last stage's
  output to (-1, 1), the range Eq. 1 quantises.
- §III-B quantisation (Eq. 1): Q(f) = ceil(2^(B-1) f) / 2^(B-1) with B = 6, so each
  feature becomes an integer k = ceil(32 f) in -31..32 (64 levels, 6 bits). Training
  replaces the rounding by a straight-through estimator in the reconstruction path and
  by additive uniform noise in the rate term.
- §III-C reconstruction g: four stages mirroring f, each a convolution, an upsampling
  (sub-pixel convolution, i.e. pixel shuffle) and a batch normalisation; every stage's
  input also reaches its output through a second path, a plain bilinear interpolation to
  the stage's output size (batch-normalised, 1x1-projected where channels change), and
  the last stage's input is interpolated straight to the target size.
- §III-D semantic analysis h: a few convolutions, global average pooling, two fully
  connected layers and a softmax over the 10 Imagenette classes (sorted wnid order,
  :data:`app.classes.IMAGENETTE_CLASSES`). ``pre`` runs it in the encoder on the float
  features f(x); ``post`` in the decoder on the dequantised features Q^-1(Q(f(x))).
- §III-E rate R (Eqs. 5-6): −log2 of the probability mass of each quantised feature
  under a learned per-channel density (the factorized bottleneck of
  :mod:`app.entropy.models`). It is only the training proxy of the rate; the file is
  coded by the context-adaptive binary coder of :mod:`app.entropy.binary`, whose learned
  context table is a buffer of the network (``context_table``, fitted on training codes
  when the weights are exported) so that it ships, and is fingerprinted, with them.

Rates. The paper trains one network per subsampling setting. To cover several rates with
one network, the code's channels are ordered by importance with nested channel dropout
(training keeps the first K channels, K drawn from :data:`CHANNEL_FRACTIONS`, and zeroes
the rest); an operating point is the number of channels kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from app.entropy.binary import PROB_ONE, table_size
from app.entropy.models import EntropyBottleneck, lower_bound
from app.nets import zoo

B_BITS = 6
LEVELS = 1 << B_BITS  # 64 codes
HALF = 1 << (B_BITS - 1)  # 32: Eq. 1's 2^(B-1)
K_MIN, K_MAX = -(HALF - 1), HALF  # ceil(32 f) for f in (-1, 1)
# operating points: share of channels kept (1/16 is the point well below 0.3 bpp, where
# carrying the class matters most)
CHANNEL_FRACTIONS = (0.0625, 0.125, 0.25, 0.5, 1.0)
NUM_CLASSES = 10

CONFIGS: dict[str, dict] = {
    # filters per stage, code channels C, the four subsampling factors, head widths
    "lite": {"filters": 48, "channels": 32, "strides": [4, 2, 1, 1],
             "head": [64, 128], "fc": 128, "level_bn": True},
    # §IV-B: 128 filters 7x7 (subsampled by 4), 5x5 (by 2), two 3x3 (by 1); 128 channels
    "paper": {"filters": 128, "channels": 128, "strides": [4, 2, 1, 1],
              "head": [256, 512], "fc": 1024, "level_bn": True},
}
KERNELS = (7, 5, 3, 3)


def kept_channels(channels: int, fraction: float) -> int:
    return max(1, round(channels * fraction))


class LevelBatchNorm(nn.Module):
    """A batch normalisation with its own statistics and affine parameters per operating
    point ("switchable batch normalisation", Yu et al., "Slimmable Neural Networks", ICLR
    2019, §3.2), for the layers that see the masked code (g and the post head).

    Shared statistics were why the first shipped DeepSIC's rate knob bought nothing: with
    2, 4 ... 32 of the code's channels kept, a layer after the mask sees inputs of very
    different scales, one BN normalises them all with the mixture's mean and variance,
    and the decoder learns one blurred compromise. ``level`` is set by
    :meth:`DeepSIC.use_level` before each forward pass."""

    def __init__(self, channels: int, levels: int) -> None:
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(levels))
        self.level = levels - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self.level](x)


def _norm(channels: int, levels: int) -> nn.Module:
    """A plain BN (``levels`` 0) or one per operating point."""
    return LevelBatchNorm(channels, levels) if levels else nn.BatchNorm2d(channels)


class _SkipDown(nn.Module):
    """The batch-normalised skip path of a feature-extraction stage."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.proj = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        return self.bn(self.proj(x))


class FeatureExtraction(nn.Module):
    """f: image in [0, 1] -> features in (-1, 1), (N, C, H/S, W/S), S = prod(strides)."""

    def __init__(self, filters: list[int], channels: int, strides: list[int]) -> None:
        super().__init__()
        outs = [*filters, channels]
        ins = [3, *outs[:-1]]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, k, stride=s, padding=k // 2)
                                   for i, o, k, s in zip(ins, outs, KERNELS, strides,
                                                         strict=True))
        self.bns = nn.ModuleList(nn.BatchNorm2d(o) for o in outs)
        self.skips = nn.ModuleList(_SkipDown(i, o, s) for i, o, s in
                                   zip(ins[1:], outs[1:], strides[1:], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bns[0](self.convs[0](x - 0.5)))
        last = len(self.skips) - 1
        for i, (conv, bn, skip) in enumerate(zip(self.convs[1:], self.bns[1:], self.skips,
                                                 strict=True)):
            a = bn(conv(a)) + skip(a)
            if i < last:
                a = F.relu(a)
        return torch.tanh(a)


class _UpStage(nn.Module):
    """A reconstruction stage: conv + pixel-shuffle upsampling + BN, plus the
    interpolation path (bilinear upsampling, BN, 1x1 projection where needed)."""

    def __init__(self, cin: int, cout: int, k: int, scale: int, last: bool,
                 levels: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(cin, cout * scale * scale, k, padding=k // 2)
        self.bn = nn.Identity() if last else _norm(cout, levels)
        self.proj = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()
        self.bn_skip = nn.Identity() if last else _norm(cout, levels)
        self.last = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.scale > 1:
            y = F.pixel_shuffle(y, self.scale)
        y = self.bn(y)
        s = self.proj(x)
        if self.scale > 1:
            s = F.interpolate(s, scale_factor=self.scale, mode="bilinear", align_corners=False)
        out = y + self.bn_skip(s)
        return out if self.last else F.relu(out)


class Reconstruction(nn.Module):
    """g: dequantised features -> image (mirrors :class:`FeatureExtraction`)."""

    def __init__(self, filters: list[int], channels: int, strides: list[int],
                 levels: int = 0) -> None:
        super().__init__()
        ins = [channels, *reversed(filters)]
        outs = [*reversed(filters), 3]
        scales = list(reversed(strides))
        kernels = list(reversed(KERNELS))
        self.stages = nn.ModuleList(_UpStage(i, o, k, s, last=(j == 3), levels=levels)
                                    for j, (i, o, k, s)
                                    in enumerate(zip(ins, outs, kernels, scales, strict=True)))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            y = stage(y)
        return y + 0.5


class SemanticHead(nn.Module):
    """h (§III-D, Fig. 4): convolutions, global pooling, two FC layers; returns logits
    (the softmax is applied by the loss and by :meth:`DeepSIC.classify`)."""

    def __init__(self, channels: int, widths: list[int], fc: int,
                 classes: int = NUM_CLASSES, levels: int = 0) -> None:
        super().__init__()
        w1, w2 = widths
        self.convs = nn.Sequential(
            nn.Conv2d(channels, w1, 3, padding=1), _norm(w1, levels), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w2, 3, stride=2, padding=1), _norm(w2, levels),
            nn.ReLU(inplace=True),
            nn.Conv2d(w2, w2, 3, padding=1), _norm(w2, levels), nn.ReLU(inplace=True))
        self.fc1 = nn.Linear(w2, fc)
        self.fc2 = nn.Linear(fc, classes)
        self.drop = nn.Dropout(0.3)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        a = self.convs(f).mean(dim=(2, 3))
        return self.fc2(self.drop(F.relu(self.fc1(a))))


def quantise(f: torch.Tensor) -> torch.Tensor:
    """Eq. 1 as integers: k = ceil(2^(B-1) f), clamped to -31..32 (float tensor)."""
    return torch.ceil(f * HALF).clamp_(K_MIN, K_MAX)


def dequantise(k: torch.Tensor) -> torch.Tensor:
    """Q^-1: the feature value k / 2^(B-1)."""
    return k / HALF


def channel_mask(channels: int, kept: torch.Tensor) -> torch.Tensor:
    """(N,) kept counts -> (N, C, 1, 1) mask of the first ``kept`` channels."""
    return (torch.arange(channels, device=kept.device)[None] < kept[:, None]).float()[..., None,
                                                                                     None]


class DeepSIC(nn.Module):
    """The DeepSIC network: f, g, the rate model and the semantic head(s).

    ``heads`` lists the variants whose head the network carries: ``pre`` (on f(x)) and/or
    ``post`` (on the dequantised code).
    """

    def __init__(self, filters: int | list[int] | tuple[int, ...] = 48, channels: int = 32,
                 strides: list[int] | tuple[int, ...] = (4, 2, 1, 1),
                 head: list[int] | tuple[int, ...] = (64, 128), fc: int = 128,
                 heads: list[str] | tuple[str, ...] = ("pre", "post"),
                 level_bn: bool = False) -> None:
        super().__init__()
        strides = [int(s) for s in strides]
        if len(strides) != 4 or strides[0] not in (2, 4) or any(s not in (1, 2)
                                                                   for s in strides[1:]):
            raise ValueError(f"strides must be 4x4/2x2 then 2x2/1x1 thrice, got {strides}")
        if not heads or any(h not in ("pre", "post") for h in heads):
            raise ValueError(f"heads must be among pre/post, got {heads}")
        self.channels = channels
        self.strides = strides
        self.stride = strides[0] * strides[1] * strides[2] * strides[3]
        self.heads = tuple(heads)
        # one width for the three hidden stages, or one per stage (g mirrors f)
        widths = [int(filters)] * 3 if isinstance(filters, int) else [int(v) for v in filters]
        if len(widths) != 3:
            raise ValueError(f"filters must be one width or three, got {filters}")
        # the operating points' channel counts; with level_bn every layer after the mask
        # has its own batch normalisation per operating point (LevelBatchNorm)
        self.levels = [kept_channels(channels, fr) for fr in CHANNEL_FRACTIONS]
        n = len(self.levels) if level_bn else 0
        self.f = FeatureExtraction(widths, channels, strides)
        self.g = Reconstruction(widths, channels, strides, n)
        self.rate = EntropyBottleneck(channels)
        self.h = nn.ModuleDict({v: SemanticHead(channels, list(head), fc,
                                                levels=n if v == "post" else 0)
                                for v in self.heads})
        # the learned context model of the binary coder (app.entropy.binary), P(1) in
        # 1/65536 per context; 1/2 until fitted on training codes
        self.register_buffer("context_table",
                             torch.full((table_size(channels),), PROB_ONE // 2,
                                        dtype=torch.int32))

    def forward(self, x: torch.Tensor, kept: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, 3, H, W) in [0, 1], H and W multiples of :attr:`stride`; kept: (N,)
        channel counts. Returns x_hat, the per-element likelihoods (zero-mask applied:
        dropped channels cost nothing) and the logits of each head."""
        f = self.f(x)
        mask = channel_mask(self.channels, kept)
        v = f * HALF + 0.5  # ceil(32 f) = round(32 f + 1/2) away from ties
        if self.training:
            k = v + (torch.round(v) - v).detach()  # straight-through
            k = k.clamp(K_MIN, K_MAX)
        else:
            k = quantise(f)
        k = k * mask
        _, lik = self.rate(v)
        lik = torch.where(mask.bool().expand_as(lik), lik, torch.ones_like(lik))
        y = dequantise(k)
        out = {"likelihoods": lower_bound(lik, 1e-9)}
        if "pre" in self.h:
            out["logits_pre"] = self.h["pre"](f)
        parts: dict[str, list[torch.Tensor]] = {"x_hat": [], "logits_post": []}
        groups = [(int(c), (kept == c).nonzero()[:, 0]) for c in kept.unique()]
        for count, idx in groups:  # one forward per operating point (its own BN)
            self.use_level(count)
            parts["x_hat"].append(self.g(y[idx]))
            if "post" in self.h:
                parts["logits_post"].append(self.h["post"](y[idx]))
        order = torch.cat([idx for _, idx in groups]).argsort()
        for key, vals in parts.items():
            if vals:
                out[key] = torch.cat(vals)[order]
        return out

    def level_of(self, kept: int) -> int:
        """The operating point of ``kept`` channels: the first whose count reaches it."""
        for i, count in enumerate(self.levels):
            if kept <= count:
                return i
        return len(self.levels) - 1

    def use_level(self, kept: int) -> None:
        """Switch every :class:`LevelBatchNorm` to the operating point of ``kept``."""
        level = self.level_of(kept)
        for m in self.modules():
            if isinstance(m, LevelBatchNorm):
                m.level = level

    # -- inference parts used by the pipelines -------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x)

    def reconstruct(self, k: torch.Tensor, kept: int | None = None) -> torch.Tensor:
        """Integer codes (float tensor, dropped channels 0) of ``kept`` channels (all when
        None) -> image."""
        self.use_level(self.channels if kept is None else kept)
        return self.g(dequantise(k))

    def classify(self, variant: str, feats: torch.Tensor,
                 kept: int | None = None) -> torch.Tensor:
        """Softmax probabilities (N, 10) of the ``variant`` head on ``feats`` (float
        features for ``pre``, dequantised codes of ``kept`` channels for ``post``)."""
        self.use_level(self.channels if kept is None else kept)
        return torch.softmax(self.h[variant](feats), dim=1)


def _from_config(config: dict) -> DeepSIC:
    return DeepSIC(**config)


# one network serves both bit-plane pipelines (deepsic-bp-pre / -post); variant-specific
# weights are preferred when shipped. deepsic-ref: the Table I reference, a classifier of
# DeepSIC's size (its f and pre head, trained for classification alone on uncompressed
# images). The shipped deepsic-pre / -post run app.nets.deepsic_transform.
zoo.network("deepsic-bp", "deepsic-bp-pre", "deepsic-bp-post", "deepsic-ref")(_from_config)
