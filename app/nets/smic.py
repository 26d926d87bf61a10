"""SMIC networks (Wei et al., "Semantic Map Based Image Compression via cGAN", §2.1-2.3).

* **SS-Net** (§2.1, Fig. 2): the segmentation generator. Encoder: a 7x7 convolution to
  ``base`` channels (60 in the paper), two 3x3 stride-2 convolutions (x2 channels each);
  ``n_res`` residual blocks (6 in the paper; Fig. 2(b): conv-BN-ReLU-conv-BN + identity);
  decoder: two 3x3 up-sampling (transposed, stride 1/2) convolutions and a 7x7 convolution
  to the class map (11 CamVid classes, logits). Input RGB in [-1, 1].
* **Rec-Net** (§2.2, Fig. 3): a U-Net generator on ``[up(decoded sampled image),
  onehot(semantic map)]``. Every level: a 3x3 convolution + BN + LeakyReLU(0.2) and one
  residual block (Fig. 2(b), LeakyReLU 0.2); down-sampling by 2x2 max pooling, up-sampling
  by 2x2 transposed convolutions, skip connections by concatenation ("we remove the
  cropping and copying unit ... and use concatenation"), padding that keeps the size
  ("we modify the padding scheme"). §2.2 leaves the first and last convolutions without BN.
* **D1 / D2** (Table 1): PatchGAN discriminators, 4x4 convolutions, LeakyReLU 0.2 (§3.1:
  "all ReLUs are leaky with slope 0.2"), sigmoid output (we return logits and use the
  numerically safe ``BCEWithLogits``, which is the same loss). D1 sees
  ``[image, class map]``, D2 sees ``[Rec-Net input, image]``. Widths are configurable;
  ``paper`` uses Table 1's exactly.

Deviation of the ``lite`` configuration (documented in docs/training.md): Rec-Net has a
global skip, ``out = clamp(up + net(...), -1, 1)`` with the last convolution zero-
initialised, so training starts from plain bicubic up-sampling and short CPU training only
has to learn a correction. ``paper`` outputs ``tanh(net(...))`` as in the paper.

Conventions the pipeline relies on (the decoder must reproduce the encoder bit-exactly):
images are float32 in [-1, 1] (``v / 127.5 - 1``); the semantic map is one-hot over the 11
classes (void = all zeros); BatchNorm runs in eval mode (running statistics), so a tile's
output does not depend on the rest of the image; inputs whose sides are not multiples of
the net's ``multiple`` are padded at the bottom/right by edge replication and cropped back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.classes import NUM_CLASSES
from app.nets.common import pad_to_multiple, zero_init
from app.nets.zoo import network

SSNET_CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"base": 24, "n_res": 4, "num_classes": NUM_CLASSES, "disc": [32, 64, 128, 128]},
    "paper": {"base": 60, "n_res": 6, "num_classes": NUM_CLASSES, "disc": [64, 128, 256, 256]},
}
RECNET_CONFIGS: dict[str, dict[str, Any]] = {
    "lite": {"widths": [24, 48, 96, 128], "num_classes": NUM_CLASSES, "global_skip": True,
             "disc": [32, 64, 128, 128, 128, 128]},
    "paper": {"widths": [64, 128, 256, 512, 512], "num_classes": NUM_CLASSES,
              "global_skip": False, "disc": [64, 128, 256, 512, 512, 512]},
}


def one_hot(labels: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(N, H, W) int labels -> (N, C, H, W) float one-hot; labels >= C (void) -> zeros."""
    lab = labels.long()
    oh = F.one_hot(lab.clamp(max=num_classes), num_classes + 1)[..., :num_classes]
    return oh.permute(0, 3, 1, 2).float()


class ResBlock(nn.Module):
    """Fig. 2(b): conv3x3-BN-act-conv3x3-BN + identity (``slope`` 0 = ReLU)."""

    def __init__(self, ch: int, slope: float = 0.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch),
            nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _cbr(cin: int, cout: int, k: int, stride: int = 1, slope: float = 0.0,
         bn: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(slope, inplace=True))
    return layers


@network("ssnet")
class SSNet(nn.Module):
    """SS-Net generator (§2.1, Fig. 2): RGB in [-1, 1] (N, 3, H, W) -> logits (N, C, H, W)."""

    multiple = 4

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        b, nc = config["base"], config["num_classes"]
        self.net = nn.Sequential(
            *_cbr(3, b, 7), *_cbr(b, 2 * b, 3, 2), *_cbr(2 * b, 4 * b, 3, 2),
            *[ResBlock(4 * b) for _ in range(config["n_res"])],
            nn.ConvTranspose2d(4 * b, 2 * b, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm2d(2 * b), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * b, b, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm2d(b), nn.ReLU(inplace=True),
            nn.Conv2d(b, nc, 7, 1, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(x, self.multiple)
        return self.net(x)[..., :h, :w]

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class-index map (N, H, W) int64."""
        return self.forward(x).argmax(1)


class _Level(nn.Module):
    """One U-Net level: conv3x3 (+BN) + LeakyReLU(0.2), then a residual block."""

    def __init__(self, cin: int, cout: int, bn: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(*_cbr(cin, cout, 3, 1, 0.2, bn), ResBlock(cout, 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@network("recnet")
class RecNet(nn.Module):
    """Rec-Net generator (§2.2, Fig. 3).

    ``forward(up, labels_onehot)``: ``up`` is the up-sampled decoded image (N, 3, H, W) in
    [-1, 1], ``labels_onehot`` (N, C, H, W); returns the reconstruction in [-1, 1].
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        w = list(config["widths"])
        self.multiple = 2 ** (len(w) - 1)
        self.global_skip = bool(config.get("global_skip", False))
        cin = 3 + config["num_classes"]
        self.down = nn.ModuleList(
            [_Level(cin, w[0], bn=False)] + [_Level(w[i - 1], w[i]) for i in range(1, len(w))])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(w[i], w[i - 1], 2, 2) for i in range(len(w) - 1, 0, -1))
        self.dec = nn.ModuleList(
            _Level(2 * w[i - 1], w[i - 1]) for i in range(len(w) - 1, 0, -1))
        self.out = nn.Conv2d(w[0], 3, 1)
        if self.global_skip:
            zero_init(self.out)

    def forward(self, up: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(torch.cat([up, seg], 1), self.multiple)
        skips = []
        for i, level in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = level(x)
            skips.append(x)
        for upconv, level, skip in zip(self.ups, self.dec, reversed(skips[:-1]), strict=True):
            x = level(torch.cat([upconv(x), skip], 1))
        y = self.out(x)[..., :h, :w]
        if self.global_skip:
            return (up + y).clamp(-1, 1)
        return torch.tanh(y)


class PatchDiscriminator(nn.Module):
    """Table 1 D1/D2: 4x4 convs (stride 2, the last two stride 1) + LeakyReLU 0.2 -> logits.

    ``widths`` are the hidden convolutions; the number of stride-2 ones is
    ``len(widths) - 1`` (D1: 3, D2: 5, as in Table 1). BatchNorm on the hidden layers after
    the first (pix2pix's PatchGAN; Table 1 lists no normalisation, it just stabilises
    training).
    """

    def __init__(self, cin: int, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = cin
        for i, wd in enumerate(widths):
            stride = 2 if i < len(widths) - 1 else 1
            layers.append(nn.Conv2d(c, wd, 4, stride, 1, bias=i == 0))
            if i:
                layers.append(nn.BatchNorm2d(wd))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            c = wd
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        # smallest input whose last two 4x4 convolutions still have 2x2 pixels to work on
        self.min_size = 4 * 2 ** (len(widths) - 1)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        x = torch.cat(xs, 1)
        h, w = x.shape[-2:]
        if h < self.min_size or w < self.min_size:  # tiny crops (tests): replicate-pad
            x = F.pad(x, (0, max(0, self.min_size - w), 0, max(0, self.min_size - h)),
                      mode="replicate")
        return self.net(x)


def build_ssnet(config: str | dict[str, Any] = "lite") -> SSNet:
    return SSNet(SSNET_CONFIGS[config] if isinstance(config, str) else config)


def build_recnet(config: str | dict[str, Any] = "lite") -> RecNet:
    return RecNet(RECNET_CONFIGS[config] if isinstance(config, str) else config)


def build_d1(config: str | dict[str, Any] = "lite") -> PatchDiscriminator:
    """D1 of Table 1 on ``[image (3), class map (C)]``."""
    cfg = SSNET_CONFIGS[config] if isinstance(config, str) else config
    return PatchDiscriminator(3 + cfg["num_classes"], cfg["disc"])


def build_d2(config: str | dict[str, Any] = "lite") -> PatchDiscriminator:
    """D2 of Table 1 on ``[Rec-Net input (3 + C), image (3)]``."""
    cfg = RECNET_CONFIGS[config] if isinstance(config, str) else config
    return PatchDiscriminator(6 + cfg["num_classes"], cfg["disc"])


# --------------------------------------------------------------------------- sampling
FACTORS = (2, 4, 8, 16)


def sampled_size(height: int, width: int, factor: int) -> tuple[int, int]:
    """Size of the sampled image (layer 2): ``ceil(h / f) x ceil(w / f)``."""
    return -(-height // factor), -(-width // factor)


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Area (box) down-sampling by ``factor`` of an HxWx3 uint8 image -> uint8.

    The image is edge-padded to a multiple of ``factor`` and every ``f x f`` block is
    averaged in integers (round half up). A box filter is the simplest antialiasing
    filter, it is exact and platform-independent (pure integer arithmetic), and it is
    what the bicubic up-sampler of :func:`upsample` is centred for (block centres).
    """
    h, w = image.shape[:2]
    hs, ws = sampled_size(h, w, factor)
    img = np.pad(image, ((0, hs * factor - h), (0, ws * factor - w), (0, 0)), mode="edge")
    s = img.reshape(hs, factor, ws, factor, 3).astype(np.int32).sum(axis=(1, 3))
    n = factor * factor
    return ((s + n // 2) // n).astype(np.uint8)


def upsample(small: torch.Tensor, factor: int, height: int, width: int) -> torch.Tensor:
    """Bicubic up-sampling (align_corners=False) of (N, 3, hs, ws) [-1, 1] by ``factor``,
    cropped to ``height x width`` (not clamped: Rec-Net sees the raw bicubic values)."""
    hs, ws = small.shape[-2:]
    up = F.interpolate(small, size=(hs * factor, ws * factor), mode="bicubic",
                       align_corners=False)
    return up[..., :height, :width]
