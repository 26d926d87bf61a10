"""MENet: the end-to-end mutual enhancement network for compression and segmentation.

Chen, Yao, Liu, Zhao, "An End-to-End Mutual Enhancement Network Toward Image Compression
and Semantic Segmentation", PRCV 2021:

- §3.1 encoder: the *base network* (the hyperprior's g_a, convolutions + GDN) gives the
  compression latent z_x = y; the *multi-scale aggregation module* builds the semantic
  latent z_s from the base network's hierarchical features: f_y^1 = f_x^n and
  f_y^{j+1} = W_{j+1} f_y^j + f_x^i for i = n-1 .. 1 (Eq. 1), each f_x^i first taken back
  to the pixel domain by an IGDN in a *hierarchical feature fusion block* (HFFB) that also
  holds ERFNet non-bottleneck-1D layers (Romera et al. 2017). Both latents are quantised
  (uniform noise in training, rounding at inference) and entropy-coded with the hyperprior
  of Ballé et al. 2018 (one hyper-latent for both here).
- §3.2 decoder: ẑ_s goes through deconvolutions + non-bt-1D layers to a class map s; ẑ_x
  through the synthesis transform (deconvolutions + IGDN) to x̂. Loss λD + R + CE (Eq. 2).
  With ``seg_input="latent"`` the semantic decoder reads the whole decoded latent [ŷ, ẑ_s]
  instead of ẑ_s alone: the bits are the same, and the class map can use what ŷ holds
  (trained by ``edms train menet-readout`` on the frozen codec, :mod:`app.train.readout`).
- §3.3 post-enhancement: s_s = [Max(s), Avg(s)] along channels (Eq. 3) → convolution →
  sigmoid gives spatial weights for features learned from s (Eq. 4); x̂ goes through a
  shallow convolution and residual blocks (x̂_r); both are concatenated and mapped to the
  enhanced x̂_e (here as a residual added to x̂).

The paper gives no layer sizes for the lite sizes used here; the aggregation brings each
f_x^i to the latent's 1/16 resolution by average pooling and a 3x3 convolution (the paper's
figure shows the blocks but not how resolutions are matched). Rates: gain units on both
latents (see :mod:`app.nets.hyperprior`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.classes import NUM_CLASSES
from app.entropy.gdn import GDN
from app.entropy.models import EntropyBottleneck, GaussianConditional
from app.nets import zoo
from app.nets.checkerboard import CheckerboardParameters
from app.nets.common import ResBlock, zero_init
from app.nets.hyperprior import (
    LAMBDAS,
    MULTIPLE,
    AnalysisTransform,
    GainUnits,
    HyperAnalysis,
    HyperSynthesis,
    Likelihoods,
    SynthesisTransform,
    code_latent,
    decoder_input,
)

CONFIGS: dict[str, dict[str, int]] = {
    # N, M: compression branch; Ms: semantic latent channels; S: aggregation width;
    # E: enhancement-module width; R: residual blocks in the enhancement module
    # context, groups: as in app.nets.hyperprior.CONFIGS (here over the M + Ms channels)
    "lite": {"N": 128, "M": 384, "Nh": 64, "Ms": 32, "S": 64, "E": 16, "R": 1,
             "context": 512, "groups": 5},
    "paper": {"N": 192, "M": 320, "Ms": 64, "S": 128, "E": 64, "R": 4, "context": 640,
              "groups": 5},
}


class NonBottleneck1D(nn.Module):
    """ERFNet's non-bottleneck-1D block: factorised 3x1/1x3 convolutions, the second pair
    dilated, batch normalisation, residual connection (Romera et al. 2017, Fig. 2c)."""

    def __init__(self, ch: int, dilation: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        d = dilation
        self.c1 = nn.Conv2d(ch, ch, (3, 1), padding=(1, 0))
        self.c2 = nn.Conv2d(ch, ch, (1, 3), padding=(0, 1))
        self.bn1 = nn.BatchNorm2d(ch)
        self.c3 = nn.Conv2d(ch, ch, (3, 1), padding=(d, 0), dilation=(d, 1))
        self.c4 = nn.Conv2d(ch, ch, (1, 3), padding=(0, d), dilation=(1, d))
        self.bn2 = nn.BatchNorm2d(ch)
        self.drop = nn.Dropout2d(dropout) if dropout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.c1(x))
        y = F.relu(self.bn1(self.c2(y)))
        y = F.relu(self.c3(y))
        y = self.drop(self.bn2(self.c4(y)))
        return F.relu(x + y)


class HFFB(nn.Module):
    """Hierarchical feature fusion block: f_y' = W f_y + down(IGDN(f_x^i)), then non-bt-1D."""

    def __init__(self, n: int, s_in: int, s: int, pool: int, dilation: int) -> None:
        super().__init__()
        self.igdn = GDN(n, inverse=True)
        self.pool = pool
        self.proj = nn.Conv2d(n, s, 3, padding=1)
        self.w = nn.Conv2d(s_in, s, 3, padding=1)
        self.nb = NonBottleneck1D(s, dilation)

    def forward(self, f_y: torch.Tensor, f_x: torch.Tensor) -> torch.Tensor:
        u = self.igdn(f_x)
        if self.pool > 1:
            u = F.avg_pool2d(u, self.pool)
        return self.nb(self.w(f_y) + self.proj(u))


class AggregationModule(nn.Module):
    """§3.1, Fig. 2: from (f_x^1, f_x^2, f_x^3, y) to the semantic latent z_s.

    ``aggregate=False`` is the ablation without the module (z_s from y alone)."""

    def __init__(self, n: int, m: int, s: int, ms: int, aggregate: bool = True) -> None:
        super().__init__()
        self.aggregate = aggregate
        # f_x^3 (1/8), f_x^2 (1/4), f_x^1 (1/2) are pooled to the latent's 1/16
        self.blocks = nn.ModuleList([HFFB(n, m, s, 2, 1), HFFB(n, s, s, 4, 2),
                                     HFFB(n, s, s, 8, 4)]) if aggregate else None
        self.plain = None if aggregate else nn.Sequential(
            nn.Conv2d(m, s, 3, padding=1), NonBottleneck1D(s, 1), NonBottleneck1D(s, 2))
        self.out = nn.Conv2d(s, ms, 3, padding=1)

    def forward(self, y: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        if self.blocks is None:
            assert self.plain is not None
            return self.out(self.plain(y))
        f = y
        for block, f_x in zip(self.blocks, reversed(feats), strict=True):
            f = block(f, f_x)
        return self.out(f)


class SemanticDecoder(nn.Module):
    """§3.2: ẑ_s -> class logits at full resolution (deconvolutions + non-bt-1D)."""

    def __init__(self, ms: int, classes: int = NUM_CLASSES, width: int = 64) -> None:
        super().__init__()
        w1, w2, w3 = width, width * 3 // 4, width // 2

        def up(a: int, b: int) -> nn.Module:
            return nn.Sequential(nn.ConvTranspose2d(a, b, 3, stride=2, padding=1,
                                                    output_padding=1), nn.ReLU(inplace=True))

        self.body = nn.Sequential(
            nn.Conv2d(ms, w1, 3, padding=1), nn.ReLU(inplace=True),
            NonBottleneck1D(w1, 1), NonBottleneck1D(w1, 2),
            up(w1, w2), NonBottleneck1D(w2, 1), NonBottleneck1D(w2, 2),
            up(w2, w3), NonBottleneck1D(w3, 1),
            nn.Conv2d(w3, classes, 1))

    def forward(self, z_s: torch.Tensor) -> torch.Tensor:
        # logits at 1/4 resolution, bilinearly up-sampled (ERFNet's last deconvolutions
        # at full resolution cost more than the rest of the decoder on a CPU)
        return F.interpolate(self.body(z_s), scale_factor=4, mode="bilinear",
                             align_corners=False)


class EnhancementModule(nn.Module):
    """§3.3, Fig. 3 and Eqs. 3-4: x̂ and the decoded class map s -> x̂_e."""

    def __init__(self, classes: int = NUM_CLASSES, e: int = 16, blocks: int = 1) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)
        self.sem = nn.Sequential(  # W_1..W_3: features learned from s
            nn.Conv2d(classes, e, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(e, e, 3, padding=1))
        self.w0 = nn.Conv2d(e, e, 3, padding=1)
        self.shallow = nn.Conv2d(3, e, 3, padding=1)
        self.res = nn.Sequential(*[ResBlock(e) for _ in range(blocks)])
        self.fuse = nn.Conv2d(2 * e, 3, 3, padding=1)
        zero_init(self.fuse)

    def forward(self, x_hat: torch.Tensor, seg_logits: torch.Tensor) -> torch.Tensor:
        s = torch.softmax(seg_logits, dim=1)
        s_s = torch.cat([s.amax(dim=1, keepdim=True), s.mean(dim=1, keepdim=True)], dim=1)
        s_e = self.w0(self.sem(s) * torch.sigmoid(self.spatial(s_s)))
        x_r = self.res(self.shallow(x_hat))
        return x_hat + self.fuse(torch.cat([s_e, x_r], dim=1))


class MENet(nn.Module):
    """The ``menet`` network: one bitstream (ŷ, ẑ_s, ẑ) -> image and class map."""

    multiple = MULTIPLE

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MENet:
        return cls(**config)

    def __init__(self, N: int = 64, M: int = 128, Ms: int = 32, S: int = 64,  # noqa: N803
                 E: int = 16, R: int = 1, qualities: int = len(LAMBDAS),  # noqa: N803
                 aggregate: bool = True, quantise_semantic: bool = True,
                 Nh: int | None = None, context: int = 0, groups: int = 1,  # noqa: N803
                 seg_input: str = "semantic") -> None:
        super().__init__()
        if seg_input not in ("semantic", "latent"):
            raise ValueError(f"seg_input must be semantic or latent, got {seg_input!r}")
        # what the semantic decoder reads: ẑ_s (the paper) or the whole latent [ŷ, ẑ_s]
        self.seg_input = seg_input
        nh = Nh or N  # the hyper transforms' width
        self.N, self.M, self.Ms, self.Nh = N, M, Ms, nh
        self.checkerboard = (CheckerboardParameters(M + Ms, context, groups) if context
                             else None)
        self.quantise_semantic = quantise_semantic
        self.g_a = AnalysisTransform(N, M)
        self.aggregation = AggregationModule(N, M, S, Ms, aggregate)
        self.g_s = SynthesisTransform(N, M)
        self.h_a = HyperAnalysis(nh, M + Ms)
        self.h_s = HyperSynthesis(nh, M + Ms)
        self.gains = GainUnits(qualities, M + Ms, LAMBDAS)
        self.entropy_bottleneck = EntropyBottleneck(nh)
        self.gaussian = GaussianConditional()
        self.seg_decoder = SemanticDecoder(M + Ms if seg_input == "latent" else Ms)
        self.enhance = EnhancementModule(NUM_CLASSES, E, R)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        """x -> the un-gained latent [y, z_s] (M + Ms channels at 1/16)."""
        y, feats = self.g_a(x)
        return torch.cat([y, self.aggregation(y, feats)], dim=1)

    def synthesise(self, latent_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The de-gained latent -> (x̂, class logits)."""
        return self.g_s(latent_hat[:, : self.M]), self.segment(latent_hat)

    def segment(self, latent_hat: torch.Tensor) -> torch.Tensor:
        """The de-gained latent -> class logits (from ẑ_s, or from [ŷ, ẑ_s])."""
        return self.seg_decoder(latent_hat if self.seg_input == "latent"
                                else latent_hat[:, self.M:])

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict[str, torch.Tensor | Likelihoods]:
        gain, inv_gain = self.gains(q)
        latent = self.analyse(x) * gain
        lat_hat, likelihoods = code_latent(self, latent)
        lat_hat = decoder_input(latent, lat_hat, self.training)
        if not self.quantise_semantic:  # ablation "no quantisation" of the semantic latent
            lat_hat = torch.cat([lat_hat[:, : self.M], latent[:, self.M:]], dim=1)
        x_hat, seg = self.synthesise(lat_hat * inv_gain)
        x_enh = self.enhance(x_hat, seg)
        return {"x_hat": x_hat, "x_enh": x_enh, "seg": seg,
                "likelihoods": likelihoods}


zoo.network("menet")(MENet.from_config)
