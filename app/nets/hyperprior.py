"""Scale-hyperprior codec with gain units: the compression branch MENet is built on.

Ballé, Minnen, Singh, Hwang, Johnston, "Variational image compression with a scale
hyperprior", ICLR 2018, Fig. 4: analysis g_a and synthesis g_s of four 5x5 stride-2
(de)convolutions with GDN / IGDN between them; hyper-analysis h_a (|y| -> z, 3x3 then two
5x5 stride-2 convolutions with ReLU) and hyper-synthesis h_s (ẑ -> σ), z coded with a
factorized prior, y with a Gaussian of scale σ.

Variable rate: one model covers a range of rates through *gain units* (Cui, Wang, Zhao,
Zhang, Bai, "Asymmetric Gained Deep Image Compression with Continuous Rate Adaptation",
CVPR 2021, §3.2): a per-channel gain vector g_q scales y before quantisation and an
inverse gain g'_q after it, one pair per trained λ_q; between two trained qualities the
vectors are interpolated geometrically (Eq. 6), so the rate knob is continuous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.entropy.gdn import GDN
from app.entropy.models import EntropyBottleneck, GaussianConditional
from app.nets import zoo
from app.nets.checkerboard import CheckerboardParameters

# λ of each trained quality for loss = λ·255²·MSE + bpp (images in [0, 1]): the usual
# MSE ladder of learned codecs (CompressAI's quality 1..8 use the last eight values), with
# two more rungs below it, each half the next: the lite models spend more bits than the
# published ones at the same λ (0.28 bpp on Kodak at 0.0018), and the range asked for
# reaches down to about 0.1 bpp. Weights trained on another ladder are mapped onto this one
# by app.train.widen.extend_qualities.
LAMBDAS = (0.00045, 0.0009, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# quality indices validated in training: the λ of qualities 1, 4 and 8 before the ladder
# grew its two lower rungs, so validation losses stay comparable across the history
VALIDATION_QUALITIES = tuple(LAMBDAS.index(v) for v in (0.0018, 0.0130, 0.1800))

CONFIGS: dict[str, dict[str, int]] = {
    # M = 384: with 128 latent channels at 1/16 resolution the synthesis saturated near
    # 30 dB on validation photographs whatever the rate, and with 256 it sat at the linear
    # bound of that width on held-out photographs (a latent fitted per image by gradient
    # descent 35.5 dB, PCA keeping 256 of 768 components 35.6 dB); N = 128: with 64
    # channels in the transforms it saturated near 33.5 dB (fed the unquantised latent),
    # far below the linear bound of its widths (see app.train.widen). Nh: the hyper
    # transforms' width, which stays 64 (the hyper-latent is small and its bits few)
    # context: width of the checkerboard context's entropy-parameters network (0: none,
    # the plain scale hyperprior; app.nets.checkerboard); groups: its channel groups
    # (ELIC's uneven split; 1: no channel context)
    "lite": {"N": 128, "M": 384, "Nh": 64, "context": 512, "groups": 5},
    # the paper's sizes for its highest rates (N = 192, M = 320 in Ballé et al.'s code)
    "paper": {"N": 192, "M": 320, "context": 640, "groups": 5},
}
MULTIPLE = 64  # g_a (x16) then h_a (x4)


def conv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, s: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, k, stride=s, padding=k // 2, output_padding=s - 1)


class GainUnits(nn.Module):
    """Gain and inverse-gain vectors, one per trained quality (Cui et al. 2021).

    They start spread like the quantisation steps an MSE codec needs at each λ (a step
    proportional to λ^-1/2, so gain_q = (λ_q / λ_mid)^1/2 and inv_gain_q = 1 / gain_q):
    with all gains at 1 every quality starts as the same codec and the rates separate only
    as slowly as the gains learn (seen in training: after 2 000 steps the eight qualities
    were within 0.1 bpp of each other).
    """

    def __init__(self, qualities: int, channels: int,
                 lambdas: tuple[float, ...] | None = None) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(qualities, channels))
        self.inv_gain = nn.Parameter(torch.ones(qualities, channels))
        if lambdas is not None and len(lambdas) == qualities:
            self.spread(lambdas)

    @torch.no_grad()
    def spread(self, lambdas: tuple[float, ...]) -> None:
        """(Re)set the vectors to the λ-spread described above."""
        lam = torch.tensor(lambdas, dtype=torch.float64)
        g = (lam / lam.log().mean().exp()).sqrt().float()[:, None]
        self.gain.copy_(g.expand_as(self.gain))
        self.inv_gain.copy_((1 / g).expand_as(self.inv_gain))

    @property
    def qualities(self) -> int:
        return self.gain.shape[0]

    def _pick(self, table: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """q: (B,) float in [0, qualities - 1] -> (B, C, 1, 1), geometric interpolation."""
        q = q.clamp(0, self.qualities - 1)
        lo = q.floor().long().clamp(max=self.qualities - 2) if self.qualities > 1 else q.long()
        t = (q - lo.to(q.dtype)).view(-1, 1)
        a, b = table.abs()[lo], table.abs()[(lo + 1).clamp(max=self.qualities - 1)]
        g = a.clamp_min(1e-6) ** (1 - t) * b.clamp_min(1e-6) ** t
        return g[:, :, None, None]

    def forward(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._pick(self.gain, q), self._pick(self.inv_gain, q)


class AnalysisTransform(nn.Module):
    """g_a: x -> y; also returns the GDN outputs of each stage (MENet's f_x^i)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([conv(3, n), conv(n, n), conv(n, n), conv(n, m)])
        self.gdns = nn.ModuleList([GDN(n), GDN(n), GDN(n)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for c, g in zip(self.convs[:-1], self.gdns, strict=True):
            x = g(c(x))
            feats.append(x)
        return self.convs[-1](x), feats


class SynthesisTransform(nn.Sequential):
    """g_s: ŷ -> x̂ (IGDN between the deconvolutions)."""

    def __init__(self, n: int, m: int) -> None:
        super().__init__(deconv(m, n), GDN(n, inverse=True), deconv(n, n),
                         GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
                         deconv(n, 3))


class HyperAnalysis(nn.Sequential):
    def __init__(self, n: int, m: int) -> None:
        super().__init__(conv(m, n, 3, 1), nn.ReLU(inplace=True), conv(n, n),
                         nn.ReLU(inplace=True), conv(n, n))


class HyperSynthesis(nn.Sequential):
    def __init__(self, n: int, m: int) -> None:
        super().__init__(deconv(n, n), nn.ReLU(inplace=True), deconv(n, n),
                         nn.ReLU(inplace=True), conv(n, m, 3, 1), nn.ReLU(inplace=True))


@dataclass
class Likelihoods:
    y: torch.Tensor
    z: torch.Tensor

    def bits(self) -> torch.Tensor:
        return -(torch.log2(self.y).sum() + torch.log2(self.z).sum())

    def per_sample_bits(self, channel_weight: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) bits of each sample of the batch; with ``channel_weight`` ((C,), one per
        latent channel) each channel's bits count that much (a training-time weighting,
        :func:`app.train.revive.rate_weights`)."""
        y_bits = -torch.log2(self.y)
        if channel_weight is not None:
            w = channel_weight.to(y_bits)
            y_bits = y_bits * w.view(1, -1, *[1] * (y_bits.dim() - 2))
        return y_bits.flatten(1).sum(1) - torch.log2(self.z).flatten(1).sum(1)


def code_latent(model: Any, latent: torch.Tensor, exact: bool = False
                ) -> tuple[torch.Tensor, Likelihoods]:
    """The hyperprior's coding step of a (gained) latent, shared by the hyperprior and
    MENet: z = h_a(|latent|), ẑ under the factorized prior, σ = h_s(ẑ), the latent under
    N(0, σ), or, with a checkerboard context (:mod:`app.nets.checkerboard`), under N(μ, σ')
    refined by the context of the rounded latent's anchors. Returns (quantised latent,
    likelihoods): noise in training, rounding otherwise.

    ``exact``: the bits the codec will spend, whatever the mode (for training the entropy
    model alone, ``--entropy-only``): the latent is rounded, not noised, and ẑ reaches h_s
    rounded (straight-through); z's own likelihood still sees the bottleneck's noise in
    training.

    Under mixed precision (a trainer's autocast, :mod:`app.train.common`) this step runs
    in float32 all the same: rounding and the likelihoods' tails need float32's mantissa."""
    with torch.autocast(latent.device.type, enabled=False):
        return _code_latent(model, latent.float(), exact)


def _code_latent(model: Any, latent: torch.Tensor, exact: bool
                 ) -> tuple[torch.Tensor, Likelihoods]:
    """:func:`code_latent`'s body (float32, outside autocast)."""
    z = model.h_a(latent.abs())
    z_hat, z_lik = model.entropy_bottleneck(z)
    if exact:
        z_hat = z + (torch.round(z) - z).detach()
    sigma = model.h_s(z_hat)
    rounded = latent + (torch.round(latent) - latent).detach()
    means = None
    if model.checkerboard is not None:
        sigma, means = model.checkerboard.both_passes(sigma, rounded)
    if exact:
        return rounded, Likelihoods(model.gaussian.likelihood(rounded, sigma, means), z_lik)
    latent_hat, lat_lik = model.gaussian(latent, sigma, means)
    return latent_hat, Likelihoods(lat_lik, z_lik)


def decoder_input(y: torch.Tensor, y_hat: torch.Tensor, training: bool) -> torch.Tensor:
    """What the synthesis sees: in training, y rounded with a straight-through gradient
    (the likelihoods still use uniform noise), so the decoder learns on the values it
    will decode; Minnen & Singh, "Channel-wise autoregressive entropy models", ICIP 2020,
    §3 ("mixed" quantisation). At inference ``y_hat`` is already rounded."""
    return y + (torch.round(y) - y).detach() if training else y_hat


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right to a multiple (cropped back after decoding)."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


class ScaleHyperprior(nn.Module):
    """The ``hyperprior`` network (Ballé et al. 2018) with gain units."""

    multiple = MULTIPLE

    @classmethod
    def from_config(cls, config: dict[str, int]) -> ScaleHyperprior:
        return cls(**config)

    def __init__(self, N: int = 64, M: int = 128, qualities: int = len(LAMBDAS),  # noqa: N803
                 Nh: int | None = None, context: int = 0, groups: int = 1) -> None:  # noqa: N803
        super().__init__()
        nh = Nh or N  # the hyper transforms' width (N in Ballé et al.)
        self.N, self.M, self.Nh = N, M, nh
        self.checkerboard = CheckerboardParameters(M, context, groups) if context else None
        self.g_a = AnalysisTransform(N, M)
        self.g_s = SynthesisTransform(N, M)
        self.h_a = HyperAnalysis(nh, M)
        self.h_s = HyperSynthesis(nh, M)
        self.gains = GainUnits(qualities, M, LAMBDAS)
        self.entropy_bottleneck = EntropyBottleneck(nh)
        self.gaussian = GaussianConditional()

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict[str, torch.Tensor | Likelihoods]:
        """x: (B, 3, H, W) in [0, 1], H and W multiples of 64; q: (B,) quality indices."""
        gain, inv_gain = self.gains(q)
        y, _ = self.g_a(x)
        y = y * gain
        y_hat, likelihoods = code_latent(self, y)
        x_hat = self.g_s(decoder_input(y, y_hat, self.training) * inv_gain)
        return {"x_hat": x_hat, "likelihoods": likelihoods}


zoo.network("hyperprior")(ScaleHyperprior.from_config)
