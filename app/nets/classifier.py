"""The reference image classifier of ``edms eval --task classification`` (our addition).

Not from a paper: a small residual network (He et al., "Deep residual learning", CVPR
2016: basic blocks, batch normalisation, global average pooling) trained here on the
uncompressed Imagenette train images, and then run unchanged on every codec's decoded
images: the *analysed* accuracy row every codec gets (JPEG and HEVC included). Inputs are
resized to ``input`` pixels square (antialiased), so any decoded size works.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.nets import zoo

CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"widths": [32, 64, 128, 256], "input": 112, "classes": 10},
    "paper": {"widths": [64, 128, 256, 512], "input": 224, "classes": 10},
}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                   nn.BatchNorm2d(cout)) if stride != 1 or cin != cout
                     else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.skip(x))


@zoo.network("classifier")
class Classifier(nn.Module):
    """(N, 3, H, W) in [0, 1] -> class logits."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        w = list(config["widths"])
        self.input = int(config["input"])
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        blocks = [_Block(w[0], w[0], 1), _Block(w[0], w[0], 1)]
        for a, b in zip(w[:-1], w[1:], strict=True):
            blocks += [_Block(a, b, 2), _Block(b, b, 1)]
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(w[-1], int(config["classes"]))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input, self.input):
            x = F.interpolate(x, size=(self.input, self.input), mode="bilinear",
                              align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        f = self.blocks(self.stem(x))
        return self.fc(f.mean(dim=(2, 3)))


def build_classifier(config_name: str = "lite") -> Classifier:
    return Classifier(CONFIGS[config_name])
