"""PostNet: a decoder-side post-filter for the layered pipelines (our extension).

Not in DSSLIC or EDMS. Their decoder ends at x_hat = x' + 2 r_hat - 255 (DSSLIC
Algorithm 1), whose error is HEVC's quantisation error of the residual. The decoder also
holds x', a prediction that is free of that error, and the QP. PostNet maps
(x_hat, x', QP) to a correction of x_hat, in the manner of CNN in-loop / post filters for
HEVC (e.g. VRCNN, DCAD), but with x' as side information no plain HEVC decoder has.

Architecture: a full-resolution head, a stride-2 trunk of residual blocks (receptive
field of about 40 pixels, enough for HEVC's 32x32 transform blocks) and a pixel-shuffle
tail fused with the head's features, then (config ``refine``, the ``hevc-pf`` filter)
residual blocks at full resolution; no normalisation layers (a tile of the image gives
the same numbers as the whole image, and restoration networks do better without). The
output is x_hat + g(...), in [0, 255] units scaled to [-0.5, 0.5].

Two configuration keys (our extension, for ``hevc-pf`` / ``hevc-spf``) change the inputs:
``prediction: false`` drops x' (plain HEVC has no prediction; the head then has
:func:`in_channels` = 4 inputs rather than x_hat fed twice, which would only spend weights
on a copy), and ``seg_classes: C`` adds a semantic branch in the spirit of MENet's
post-enhancement module (and EDMS's semantic enhancement): features F_s learned from the
one-hot segmentation map are weighted by a spatial attention map
sigmoid(conv7x7([max_c F_s, mean_c F_s])) (channel-wise max and average pooling, CBAM
style) and added to the head's features. The pooling runs on F_s, not on the one-hot map
itself, whose channel-wise max and mean are the constants 1 and 1/C. The branch's last
convolution starts at zero, so a network warm-started from one without it begins with the
same output.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.nets.common import ResBlock, zero_init
from app.nets.zoo import network

CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"head": 32, "trunk": 64, "blocks": 4},
    "paper": {"head": 64, "trunk": 128, "blocks": 12},  # no paper: a larger size for GPUs
}
QP_CENTRE, QP_SCALE = 32.0, 10.0
IN_CHANNELS = 7  # x_hat (3), x' (3), QP plane (1): the layered pipelines' PostNet


def in_channels(config: dict[str, Any]) -> int:
    """Inputs of the head: x_hat, x' unless ``prediction`` is false, and the QP plane."""
    return IN_CHANNELS if config.get("prediction", True) else IN_CHANNELS - 3


class _SemanticBranch(nn.Module):
    """Features of the one-hot map times a spatial attention from their channel-wise max
    and mean (MENet's post-enhancement, CBAM's spatial attention); extension."""

    def __init__(self, classes: int, ch: int) -> None:
        super().__init__()
        self.classes = classes
        self.feat = nn.Conv2d(classes, ch, 3, padding=1)
        self.attn = nn.Conv2d(2, 1, 7, padding=3)
        self.out = nn.Conv2d(ch, ch, 3, padding=1)
        zero_init(self.out)  # starts as no contribution

    def forward(self, seg: torch.Tensor) -> torch.Tensor:
        """seg: (N, 1, H, W) integer labels (>= classes: void, all-zero one-hot)."""
        lab = seg[:, 0].long().clamp(0, self.classes)
        oh = F.one_hot(lab, self.classes + 1)[..., : self.classes]
        f = F.relu(self.feat(oh.permute(0, 3, 1, 2).float()))
        a = torch.sigmoid(self.attn(torch.cat([f.amax(1, keepdim=True),
                                               f.mean(1, keepdim=True)], 1)))
        return self.out(f * a)


@network("postnet", "postnet-hevc", "postnet-hevc-seg")
class PostNet(nn.Module):
    """x_tilde = x_hat + PostNet(x_hat, x', qp[, seg]); images in [0, 1], (N, 3, H, W);
    ``pred`` is ignored (may be None) without the prediction input, ``seg`` is (N, 1, H, W)
    class labels with the semantic branch."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        h, t, n = int(config["head"]), int(config["trunk"]), int(config["blocks"])
        self.use_prediction = bool(config.get("prediction", True))
        self.seg_classes = int(config.get("seg_classes", 0))
        self.head = nn.Conv2d(in_channels(config), h, 3, padding=1)
        self.sem = _SemanticBranch(self.seg_classes, h) if self.seg_classes else None
        self.down = nn.Conv2d(h, t, 3, stride=2, padding=1)
        self.trunk = nn.Sequential(*[ResBlock(t) for _ in range(n)])
        self.up = nn.Conv2d(t, 4 * h, 3, padding=1)
        self.fuse = nn.Conv2d(2 * h, h, 3, padding=1)
        # ``refine``: residual blocks at full resolution after the fusion (0: none), for
        # the fine, pixel-level corrections the stride-2 trunk cannot place (HEVC's
        # high-rate errors); each starts as the identity when warm-started
        self.refine = nn.Sequential(*[ResBlock(h) for _ in range(int(config.get("refine", 0)))])
        self.tail = nn.Conv2d(h, 3, 3, padding=1)
        zero_init(self.tail)  # starts as the identity: x_tilde = x_hat

    def forward(self, x_hat: torch.Tensor, pred: torch.Tensor | None, qp: torch.Tensor | float,
                seg: torch.Tensor | None = None) -> torch.Tensor:
        n, _, hh, ww = x_hat.shape
        ph, pw = hh % 2, ww % 2  # odd sizes: replicate one row/column for the stride-2 trunk
        q = torch.as_tensor(qp, dtype=x_hat.dtype, device=x_hat.device).reshape(-1, 1, 1, 1)
        q = ((q - QP_CENTRE) / QP_SCALE).expand(n, 1, hh, ww)
        if self.use_prediction:
            assert pred is not None, "this PostNet takes the prediction x'"
            parts = [x_hat - 0.5, pred - 0.5, q]
        else:
            parts = [x_hat - 0.5, q]
        inp = torch.cat(parts, 1)
        if ph or pw:
            inp = F.pad(inp, (0, pw, 0, ph), mode="replicate")
        f = F.relu(self.head(inp))
        if self.sem is not None:
            if seg is None:
                raise ValueError("this PostNet needs a segmentation map")
            seg = seg.float()  # labels (replicate-padding needs a float tensor)
            if ph or pw:
                seg = F.pad(seg, (0, pw, 0, ph), mode="replicate")
            f = f + self.sem(seg)
        t = self.trunk(F.relu(self.down(f)))
        u = F.relu(F.pixel_shuffle(self.up(t), 2))
        g = self.tail(self.refine(F.relu(self.fuse(torch.cat([f, u], 1)))))
        return x_hat + g[..., :hh, :ww]


def build_postnet(config_name: str = "lite", **variant: Any) -> PostNet:
    """PostNet of a named size; ``variant`` adds ``prediction`` / ``seg_classes``."""
    return PostNet({**CONFIGS[config_name], **variant})
