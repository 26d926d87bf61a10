"""SMapNet, EDMS's semantic-map enhancement network (Hoang et al. 2020, §2.1, Fig. 2).

The segmentation the decoder can compute, s~ = SegNet(c'), is less accurate than the
segmentation of the original, SegNet(x). SMapNet maps s~ to it. Following the paper it
is a DRRN-style recursive residual network (Tai et al., CVPR 2017): an input convolution,
one recursive block of ``units`` residual units that *share* their two 3x3 convolutions
(pre-activation ReLU, a local residual to the block input in every unit), an output
convolution, and a global residual: logits = beta * onehot(s~) + f(s~, c').

Besides the one-hot map we give the network the upsampled compact image c' (3 channels):
both sides have it, and it tells where class boundaries really are. The ``lite`` config
works at 1/4 resolution (segment boundaries are coarse anyway; the compact image has
1/8 resolution) and upsamples its logits bilinearly; ``paper`` runs at full resolution
with DRRN's B1U9, 128 channels.

Inference uses only deterministic ops (conv, average pooling, bilinear upsampling).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.classes import NUM_CLASSES
from app.nets.common import zero_init
from app.nets.zoo import network

CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"channels": 32, "units": 6, "scale": 4, "num_classes": NUM_CLASSES},
    "paper": {"channels": 128, "units": 9, "scale": 1, "num_classes": NUM_CLASSES},
}


@network("smapnet")
class SMapNet(nn.Module):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        ch, nc = config["channels"], config["num_classes"]
        self.units = int(config["units"])
        self.scale = int(config["scale"])
        self.inp = nn.Conv2d(nc + 3, ch, 3, padding=1)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)  # shared by every unit (recursion)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
        self.out = nn.Conv2d(ch, nc, 3, padding=1)
        self.beta = nn.Parameter(torch.tensor(4.0))
        zero_init(self.out)

    def forward(self, onehot: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """onehot (N, 11, H, W), image c' in [0, 1] (N, 3, H, W) -> logits (N, 11, H, W)."""
        h, w = onehot.shape[-2:]
        x = torch.cat([onehot, image], 1)
        if self.scale > 1:
            ph, pw = (-h) % self.scale, (-w) % self.scale
            if ph or pw:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
            x = F.avg_pool2d(x, self.scale)
        h0 = self.inp(x)
        t = h0
        for _ in range(self.units):
            t = h0 + self.conv2(F.relu(self.conv1(F.relu(t))))
        y = self.out(F.relu(t))
        if self.scale > 1:
            y = F.interpolate(y, scale_factor=self.scale, mode="bilinear", align_corners=False)
            y = y[..., :h, :w]
        return y + self.beta * onehot

    @torch.no_grad()
    def predict(self, onehot: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.forward(onehot, image).argmax(1)


def build_smapnet(config: str | dict[str, Any] = "lite") -> SMapNet:
    return SMapNet(CONFIGS[config] if isinstance(config, str) else config)
