"""DeepSIC over a learned transform coder: the shipped ``deepsic`` network (our adaptation
of DeepSIC, Luo, Yang, Song, §III).

DeepSIC's idea is one feature extraction f shared by compression and semantic analysis:
the features are quantised and entropy coded (§III-B), reconstructed by g (§III-C), and a
semantic head h classifies either f(x) in the encoder, storing the class in the file
(pre-semantic, Fig. 2a), or the decoded features in the decoder (post-semantic, Fig. 2b).

The paper's own f and g (four convolution stages with batch normalisation, Eq. 1's 6-bit
quantiser, channel count as the rate) are :mod:`app.nets.deepsic` (pipelines
``deepsic-bp-pre`` / ``deepsic-bp-post``). Trained on our CPU budget they stay below JPEG
at every rate (``docs/log/``): one quantiser step for every rate leaves the channel count
as the only rate knob, and a 6-bit code spends about 6 bits per element whatever it
holds. Here f and g are instead the analysis and synthesis transforms of the shipped
scale hyperprior (Ballé et al. 2018, with gain units for the rate: Cui et al. 2021), its
latent y = f(x) quantised by rounding after the gain of the chosen quality (Eq. 1 with a
learned step per channel and rate) and coded under the hyperprior (Eqs. 5-7's learned
density, refined by a checkerboard context); the codec part is frozen, so the image and
its bits are the ``hyperprior`` pipeline's at the same quality.

The semantic analysis h (§III-D, Fig. 4: convolutions, global pooling, two fully
connected layers, softmax over the 10 Imagenette classes):

- ``pre`` reads the float latent y = f(x) in the encoder, before any quantisation, so its
  class is the same at every rate;
- ``post`` reads the decoded latent ŷ·g'_q (what g reads) in the decoder; the rounding
  error grows as the rate falls, so its batch normalisations are switchable, one per
  trained quality (Yu et al., "Slimmable Neural Networks", ICLR 2019, §3.2).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.nets import zoo
from app.nets.deepsic import NUM_CLASSES, LevelBatchNorm
from app.nets.hyperprior import LAMBDAS, ScaleHyperprior

CONFIGS: dict[str, dict[str, Any]] = {
    # the hyperprior-lite codec (app.nets.hyperprior.CONFIGS["lite"]) and the heads' widths
    "lite": {"N": 128, "M": 384, "Nh": 64, "context": 512, "groups": 5,
             "head": 192, "fc": 256, "heads": ["pre", "post"]},
    "paper": {"N": 192, "M": 320, "context": 640, "groups": 5,
              "head": 512, "fc": 1024, "heads": ["pre", "post"]},
}
CODEC_KEYS = ("N", "M", "Nh", "context", "groups")


def _bn(ch: int, levels: int) -> nn.Module:
    return LevelBatchNorm(ch, levels) if levels else nn.BatchNorm2d(ch)


class LatentHead(nn.Module):
    """h on a latent at 1/16 of the image: a 1x1 projection, a 3x3 convolution, a
    stride-2 3x3 and another 3x3 (each batch-normalised, ReLU), global average pooling,
    two fully connected layers (dropout between); returns logits."""

    def __init__(self, m: int, width: int, fc: int, levels: int = 0,
                 classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(m, width, 1), _bn(width, levels), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), _bn(width, levels), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1), _bn(width, levels),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), _bn(width, levels), nn.ReLU(inplace=True))
        self.fc1 = nn.Linear(width, fc)
        self.fc2 = nn.Linear(fc, classes)
        self.drop = nn.Dropout(0.3)

    def forward(self, lat: torch.Tensor) -> torch.Tensor:
        a = self.convs(lat).mean(dim=(2, 3))
        return self.fc2(self.drop(F.relu(self.fc1(a))))


class TransformDeepSIC(ScaleHyperprior):
    """The hyperprior codec (its attributes, so the end-to-end pipeline codes it as it
    codes ``hyperprior``) plus the semantic head(s) ``h['pre']`` / ``h['post']``."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TransformDeepSIC:
        return cls(**config)

    def __init__(self, N: int = 128, M: int = 384, Nh: int | None = 64,  # noqa: N803
                 context: int = 512, groups: int = 5, head: int = 192, fc: int = 256,
                 heads: list[str] | tuple[str, ...] = ("pre", "post")) -> None:
        super().__init__(N=N, M=M, Nh=Nh, context=context, groups=groups)
        if not heads or any(h not in ("pre", "post") for h in heads):
            raise ValueError(f"heads must be among pre/post, got {heads}")
        self.heads = tuple(heads)
        self.h = nn.ModuleDict({v: LatentHead(M, head, fc,
                                              levels=len(LAMBDAS) if v == "post" else 0)
                                for v in self.heads})

    def codec_parameters(self) -> list[nn.Parameter]:
        """The hyperprior's parameters (frozen when the heads are trained)."""
        heads = {id(p) for p in self.h.parameters()}
        return [p for p in self.parameters() if id(p) not in heads]

    @staticmethod
    def level_of(quality: torch.Tensor | float) -> int:
        """The post head's operating point (its batch normalisation) for a quality index
        in 0..9 (fractional qualities take the nearest trained one)."""
        q = float(torch.as_tensor(quality).reshape(-1)[0])
        return int(min(len(LAMBDAS) - 1, max(0, round(q))))

    def use_level(self, quality: torch.Tensor | float) -> None:
        level = self.level_of(quality)
        for m in self.modules():
            if isinstance(m, LevelBatchNorm):
                m.level = level

    def decoded_latent(self, y: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """What the decoder holds at ``quality`` (a (B,) index): round(y·g_q)·g'_q."""
        gain, inv_gain = self.gains(quality)
        return torch.round(y * gain) * inv_gain

    def logits(self, variant: str, lat: torch.Tensor,
               quality: torch.Tensor | float | None = None) -> torch.Tensor:
        """Logits of the ``variant`` head: ``pre`` on the float latent y, ``post`` on the
        decoded latent of ``quality`` (one quality for the whole batch)."""
        if variant == "post":
            if quality is None:
                raise ValueError("the post head needs the quality it decodes at")
            self.use_level(quality)
        return self.h[variant](lat)

    def classify(self, variant: str, lat: torch.Tensor,
                 quality: torch.Tensor | float | None = None) -> torch.Tensor:
        """Softmax probabilities (N, 10) of :meth:`logits`."""
        return torch.softmax(self.logits(variant, lat, quality), dim=1)


zoo.network("deepsic", "deepsic-pre", "deepsic-post")(TransformDeepSIC.from_config)
