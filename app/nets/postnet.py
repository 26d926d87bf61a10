"""PostNet: a decoder-side post-filter for the layered pipelines (our extension).

Not in DSSLIC or EDMS. Their decoder ends at x_hat = x' + 2 r_hat - 255 (DSSLIC
Algorithm 1), whose error is HEVC's quantisation error of the residual. The decoder also
holds x', a prediction that is free of that error, and the QP. PostNet maps
(x_hat, x', QP) to a correction of x_hat, in the manner of CNN in-loop / post filters for
HEVC (e.g. VRCNN, DCAD), but with x' as side information no plain HEVC decoder has.

Architecture: a full-resolution head, a stride-2 trunk of residual blocks (receptive
field of about 40 pixels, enough for HEVC's 32x32 transform blocks) and a pixel-shuffle
tail fused with the head's features; no normalisation layers (a tile of the image gives
the same numbers as the whole image, and restoration networks do better without). The
output is x_hat + g(...), in [0, 255] units scaled to [-0.5, 0.5].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.nets.common import zero_init
from app.nets.zoo import network

CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"head": 32, "trunk": 64, "blocks": 4},
    "paper": {"head": 64, "trunk": 128, "blocks": 12},  # no paper: a larger size for GPUs
}
QP_CENTRE, QP_SCALE = 32.0, 10.0
IN_CHANNELS = 7  # x_hat (3), x' (3), QP plane (1)


class _Block(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.c1(x)))


@network("postnet")
class PostNet(nn.Module):
    """x_tilde = x_hat + PostNet(x_hat, x', qp); tensors in [0, 1], (N, 3, H, W)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        h, t, n = int(config["head"]), int(config["trunk"]), int(config["blocks"])
        self.head = nn.Conv2d(IN_CHANNELS, h, 3, padding=1)
        self.down = nn.Conv2d(h, t, 3, stride=2, padding=1)
        self.trunk = nn.Sequential(*[_Block(t) for _ in range(n)])
        self.up = nn.Conv2d(t, 4 * h, 3, padding=1)
        self.fuse = nn.Conv2d(2 * h, h, 3, padding=1)
        self.tail = nn.Conv2d(h, 3, 3, padding=1)
        zero_init(self.tail)  # starts as the identity: x_tilde = x_hat

    def forward(self, x_hat: torch.Tensor, pred: torch.Tensor, qp: torch.Tensor | float
                ) -> torch.Tensor:
        n, _, hh, ww = x_hat.shape
        ph, pw = hh % 2, ww % 2  # odd sizes: replicate one row/column for the stride-2 trunk
        q = torch.as_tensor(qp, dtype=x_hat.dtype, device=x_hat.device).reshape(-1, 1, 1, 1)
        q = ((q - QP_CENTRE) / QP_SCALE).expand(n, 1, hh, ww)
        inp = torch.cat([x_hat - 0.5, pred - 0.5, q], 1)
        if ph or pw:
            inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
        f = F.relu(self.head(inp))
        t = self.trunk(F.relu(self.down(f)))
        u = F.relu(F.pixel_shuffle(self.up(t), 2))
        g = self.tail(F.relu(self.fuse(torch.cat([f, u], 1))))
        return x_hat + g[..., :hh, :ww]


def build_postnet(config_name: str = "lite") -> PostNet:
    return PostNet(CONFIGS[config_name])
