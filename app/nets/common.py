"""Small helpers shared by the networks: padding to a multiple and crop back, conv blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(
    x: torch.Tensor, m: int, mode: str = "replicate"
) -> tuple[torch.Tensor, int, int]:
    """Pad ``x`` (N, C, H, W) at the bottom/right to multiples of ``m``; returns (x, H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


class ConvBNReLU(nn.Sequential):
    """Conv -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


def zero_init(conv: nn.Module) -> None:
    """Zero a convolution's weight and bias, so the branch it ends starts as a no-op."""
    assert isinstance(conv, nn.Conv2d) and conv.bias is not None
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)


class ResBlock(nn.Module):
    """x + conv(relu(conv(x))), two 3x3 convolutions without normalisation (the residual
    block of PostNet's trunk and of MENet's enhancement module)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.c1(x)))
