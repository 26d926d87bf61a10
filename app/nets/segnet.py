"""SegNet: the semantic segmentation network of DSSLIC (§3.1) and EDMS (§2.1).

DSSLIC uses PSPNet [Zhao et al. 2017]. No pretrained weights can be fetched here, so both
configurations are trained from scratch on CamVid:

* ``paper``: PSPNet-style: a ResNet-18-like backbone (basic blocks 64/128/256/512, the last
  two stages dilated 2 and 4 so the output stride is 8) + the pyramid pooling module (bins
  1, 2, 3, 6) + a 3x3 conv head. ~13 M parameters.
* ``lite``: a small CPU net in the same spirit: a 3-stage encoder (output stride 8) whose last
  stage is a stack of dilated residual blocks (dilations 1, 2, 4, 8, ...) for context, the
  same pyramid pooling module, and a light decoder that fuses the stride-4 skip feature
  (as in DeepLabv3+/BiSeNet) before bilinear upsampling to full size.

Input: RGB float (N, 3, H, W) in [0, 1]; output: logits (N, 11, H, W) for any H, W (the
input is padded at the bottom/right to a multiple of 8 with edge replication and the logits
cropped back). Inference uses only deterministic CPU ops (conv, BN in eval mode, adaptive
average pooling, bilinear interpolation).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.classes import NUM_CLASSES
from app.nets.common import ConvBNReLU, pad_to_multiple
from app.nets.zoo import network

# ImageNet statistics are only a fixed input normalisation here (no pretrained weights).
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {
        "arch": "lite",
        "widths": [16, 32, 64, 96],
        "dilations": [1, 2, 4, 8, 1, 2, 4, 8],
        "ppm_bins": [1, 2, 3, 6],
        "ppm_ch": 32,
        "dec_ch": 64,
    },
    "paper": {
        "arch": "psp",
        "widths": [64, 128, 256, 512],
        "blocks": [2, 2, 2, 2],
        "ppm_bins": [1, 2, 3, 6],
        "ppm_ch": 128,
        "dec_ch": 256,
    },
}


class BasicBlock(nn.Module):
    """ResNet basic block with optional dilation and stride."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.c1 = ConvBNReLU(cin, cout, 3, stride, dilation)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, dilation, dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.c2(self.c1(x))) + self.short(x))


class PPM(nn.Module):
    """Pyramid pooling module (PSPNet §3.2): pool to bins, 1x1 conv, upsample, concat."""

    def __init__(self, cin: int, ch: int, bins: list[int]) -> None:
        super().__init__()
        self.bins = list(bins)
        self.branches = nn.ModuleList(ConvBNReLU(cin, ch, 1) for _ in bins)
        self.out_ch = cin + ch * len(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        feats = [x]
        for b, conv in zip(self.bins, self.branches, strict=True):
            y = conv(F.adaptive_avg_pool2d(x, b))
            feats.append(F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False))
        return torch.cat(feats, 1)


@network("segnet")
class SegNet(nn.Module):
    """Segmentation network; see the module docstring for the two configurations."""

    multiple = 8
    mean: torch.Tensor  # buffers (ImageNet input normalisation)
    std: torch.Tensor

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        w = config["widths"]
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        if config["arch"] == "lite":
            self.stem = nn.Sequential(ConvBNReLU(3, w[0], 3, 2), ConvBNReLU(w[0], w[1], 3, 2),
                                      BasicBlock(w[1], w[1]))                 # 1/4
            self.body = nn.Sequential(
                BasicBlock(w[1], w[2], 2),                                     # 1/8
                *[BasicBlock(w[2] if i == 0 else w[3], w[3], 1, d)
                  for i, d in enumerate(config["dilations"])])
        elif config["arch"] == "psp":
            nb = config["blocks"]

            def stage(cin: int, cout: int, n: int, stride: int, dil: int) -> nn.Sequential:
                return nn.Sequential(BasicBlock(cin, cout, stride, 1 if stride > 1 else dil),
                                     *[BasicBlock(cout, cout, 1, dil) for _ in range(n - 1)])

            self.stem = nn.Sequential(ConvBNReLU(3, 32, 3, 2), ConvBNReLU(32, 32),
                                      ConvBNReLU(32, w[0]), nn.MaxPool2d(3, 2, 1),
                                      stage(w[0], w[0], nb[0], 1, 1))         # 1/4
            self.body = nn.Sequential(stage(w[0], w[1], nb[1], 2, 1),          # 1/8
                                      stage(w[1], w[2], nb[2], 1, 2),
                                      stage(w[2], w[3], nb[3], 1, 4))
        else:
            raise ValueError(f"unknown segnet arch {config['arch']!r}")
        self.ppm = PPM(w[3], config["ppm_ch"], config["ppm_bins"])
        dc = config["dec_ch"]
        self.ctx = ConvBNReLU(self.ppm.out_ch, dc, 3)
        self.skip = ConvBNReLU(w[1] if config["arch"] == "lite" else w[0], 32, 1)
        self.fuse = ConvBNReLU(dc + 32, dc, 3)
        self.cls = nn.Conv2d(dc, NUM_CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] (N, 3, H, W) -> logits (N, 11, H, W)."""
        x, h, w = pad_to_multiple(x, self.multiple)
        x = (x - self.mean) / self.std
        s4 = self.stem(x)
        y = self.ctx(self.ppm(self.body(s4)))
        y = F.interpolate(y, size=s4.shape[-2:], mode="bilinear", align_corners=False)
        y = self.fuse(torch.cat([y, self.skip(s4)], 1))
        y = self.cls(y)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[..., :h, :w]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class-index map (N, H, W) int64."""
        return self.forward(x).argmax(1)


def build_segnet(config: str | dict[str, Any] = "lite") -> SegNet:
    """Build a SegNet from a config name (``lite``/``paper``) or a config dict."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return SegNet(cfg)
