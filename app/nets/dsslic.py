"""DSSLIC networks (Akbari et al., ICASSP 2019, §3.2): CompNet, FineNet and the discriminators.

Notation of §3.2 (pix2pixHD [19]):

* ``c_k``: 7x7 conv, k filters, stride 1 (reflection padding 3) + InstanceNorm + ReLU.
* ``d_k``: 3x3 conv, k filters, **stride 2** + InstanceNorm + ReLU. (The text says stride 1,
  but §3.4 needs alpha = 8 from three d_k layers, as in pix2pixHD, so stride 2 it is.)
* ``r_k``: residual block: reflection pad, 3x3 conv, IN, ReLU, reflection pad, 3x3 conv, IN.
* ``u_k``: 3x3 transposed conv, stride 1/2 (i.e. x2 up) + InstanceNorm + ReLU.

CompNet: ``c64, d128, d256, d512, c3, tanh`` on ``[x, onehot(s)]`` -> compact image c
(h/8 x w/8 x 3, in [-1, 1]). FineNet: ``c64, d128, d256, d512, 9 x r512, u256, u128, u64,
c3, tanh`` on ``[onehot(s), c']`` -> f; ``x' = c' + f`` with ``c' = bicubic x8 upsampling of
c`` (Algorithm 1, RecNet). Discriminators D1 (full scale) and D2 (x2 down-sampled, 3x3
average pooling as in pix2pixHD): ``C64, C128, C256, C512`` (4x4 conv, stride 2, IN,
LeakyReLU 0.2; no IN on the first layer, as in pix2pixHD) then a 1-filter 4x4 conv, on
``[onehot(s), c', x or x']``. They return every intermediate feature map for the
feature-matching loss (eq. 6).

Deviations (see docs/training.md): FineNet's last conv is zero-initialised (x' = c' at the
start of training); ``lite`` has no CompNet (``comp_learned: False``): its compact image is
the 8x8 box average of x, which measured better after residual coding than the learned
one. A learned CompNet may add its output to the box average (``comp_skip``), because
instance norm hides the image's global colour from it.

Conventions shared with the pipeline (the decoder must reproduce the encoder bit-exactly):

* images are float32 in [-1, 1] (``v / 127.5 - 1``); the compact image is stored as 8 bit:
  ``c8 = round(c * 127.5 + 127.5)``, and the decoder uses ``c8 / 127.5 - 1``
  (:func:`quantize_compact`; in training a straight-through estimator).
* the segmentation is one-hot over the 11 CamVid classes; void (11) is all zeros.
* ``c'`` = ``F.interpolate(c, size=(8*hc, 8*wc), mode="bicubic", align_corners=False)``,
  not clamped (:func:`upsample_compact`).
* images whose sides are not multiples of 8 are padded at the bottom/right by edge
  replication (image and segmentation alike) before CompNet, and x' is cropped back.
* inference runs in float32 on CPU with only deterministic ops (conv, transposed conv,
  instance norm, bicubic interpolation, tanh); the pipeline rounds x' to uint8.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.classes import NUM_CLASSES
from app.nets.common import zero_init
from app.nets.zoo import network

ALPHA = 8


def _config(width: int, n_res: int, disc: int, **compnet: bool) -> dict[str, Any]:
    """One configuration: CompNet's and FineNet's ``c_k, d_k, d_k, d_k`` widths doubling
    from ``width``, FineNet's ``n_res`` residual blocks, the discriminators' ``C_k``
    widths doubling from ``disc``, and CompNet's options (``comp_skip``,
    ``comp_learned``)."""

    def doubling(k: int) -> list[int]:
        return [k, 2 * k, 4 * k, 8 * k]

    return {"comp": doubling(width), "fine": doubling(width), "n_res": n_res,
            "disc": doubling(disc), "num_classes": NUM_CLASSES, **compnet}


CONFIGS: dict[str, dict[str, Any]] = {
    "lite": _config(16, n_res=4, disc=32, comp_skip=True, comp_learned=False),
    "paper": _config(64, n_res=9, disc=64, comp_skip=False),  # §3.2: c64 ... 9 x r512, C64 ...
}


def _c7(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(3), nn.Conv2d(cin, cout, 7), nn.InstanceNorm2d(cout),
            nn.ReLU(True)]


def _d(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 2, 1), nn.InstanceNorm2d(cout), nn.ReLU(True)]


def _u(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(cout),
            nn.ReLU(True)]


def _out(cin: int) -> list[nn.Module]:
    return [nn.ReflectionPad2d(3), nn.Conv2d(cin, 3, 7), nn.Tanh()]


class ResBlock(nn.Module):
    """``r_k`` of §3.2."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CompNet(nn.Module):
    """``c_w0, d_w1, d_w2, d_w3, c3, tanh``: [x, onehot(s)] -> c at 1/8 size, in [-1, 1].

    With ``skip=True`` (our ``lite`` config, not in the paper) the output is a correction
    added to the 8x8 box average of x: ``c = clamp(box8(x) + tanh(...), -1, 1)``, with the
    last conv zero-initialised so that training starts from plain box down-sampling.
    Reason: every instance norm discards the per-image mean and scale of its features, so
    the paper's CompNet can recover the image's global colour only indirectly; the skip
    hands it over and lets the network spend its capacity on what the box filter misses.
    """

    def __init__(self, widths: list[int], num_classes: int = NUM_CLASSES,
                 skip: bool = False) -> None:
        super().__init__()
        w = widths
        self.skip = skip
        self.net = nn.Sequential(*_c7(3 + num_classes, w[0]), *_d(w[0], w[1]), *_d(w[1], w[2]),
                                 *_d(w[2], w[3]), *_out(w[3]))
        if skip:
            zero_init(self.net[-2])

    def forward(self, x: torch.Tensor, seg1h: torch.Tensor) -> torch.Tensor:
        y = self.net(torch.cat([x, seg1h], 1))
        if self.skip:
            y = (F.avg_pool2d(x, ALPHA) + y).clamp(-1, 1)
        return y


class FineNet(nn.Module):
    """pix2pixHD global generator: [onehot(s), c'] -> f in [-1, 1]."""

    def __init__(self, widths: list[int], n_res: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        w = widths
        self.net = nn.Sequential(
            *_c7(num_classes + 3, w[0]), *_d(w[0], w[1]), *_d(w[1], w[2]), *_d(w[2], w[3]),
            *[ResBlock(w[3]) for _ in range(n_res)],
            *_u(w[3], w[2]), *_u(w[2], w[1]), *_u(w[1], w[0]), *_out(w[0]))
        # Zero-initialised last conv: f = 0 and x' = c' at the start of training, so
        # FineNet begins as the identity refinement (an initialisation choice only).
        zero_init(self.net[-2])

    def forward(self, seg1h: torch.Tensor, c_up: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([seg1h, c_up], 1))


class PatchDiscriminator(nn.Module):
    """``C_w0..C_w3`` (4x4, stride 2, IN, LeakyReLU) + 1-filter conv; returns all features."""

    def __init__(self, cin: int, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = cin
        for i, k in enumerate(widths):
            layers.append(nn.Sequential(
                nn.Conv2d(prev, k, 4, 2, 2),
                nn.Identity() if i == 0 else nn.InstanceNorm2d(k),
                nn.LeakyReLU(0.2, True)))
            prev = k
        layers.append(nn.Conv2d(prev, 1, 4, 1, 2))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats  # last entry = the patch logits


class MultiscaleDiscriminator(nn.Module):
    """D1 at full scale and D2 on the x2 average-pooled input (pix2pixHD)."""

    def __init__(self, widths: list[int], num_classes: int = NUM_CLASSES, num_d: int = 2) -> None:
        super().__init__()
        self.ds = nn.ModuleList(PatchDiscriminator(num_classes + 6, widths) for _ in range(num_d))

    def forward(self, seg1h: torch.Tensor, c_up: torch.Tensor,
                img: torch.Tensor) -> list[list[torch.Tensor]]:
        x = torch.cat([seg1h, c_up, img], 1)
        outs = []
        for i, d in enumerate(self.ds):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outs.append(d(x))
        return outs


def one_hot(seg: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(N, H, W) int labels -> (N, C, H, W) float one-hot; labels >= C (void) -> zeros."""
    oh = torch.zeros(seg.shape[0], num_classes + 1, *seg.shape[1:], device=seg.device)
    oh.scatter_(1, seg.clamp(0, num_classes).long().unsqueeze(1), 1.0)
    return oh[:, :num_classes]


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        return g


def quantize_compact(c: torch.Tensor, ste: bool = False) -> torch.Tensor:
    """8-bit quantisation of c in [-1, 1]: ``round(c*127.5+127.5)/127.5 - 1``.

    With ``ste=True`` the rounding passes gradients straight through (training).
    """
    v = c.clamp(-1, 1) * 127.5 + 127.5
    v = _RoundSTE.apply(v) if ste else torch.round(v)
    return v / 127.5 - 1


def compact_to_uint8(c: torch.Tensor) -> torch.Tensor:
    """c in [-1, 1] (N, 3, h, w) -> uint8 codes (the base layer)."""
    return torch.round(c.clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)


def uint8_to_compact(c8: torch.Tensor) -> torch.Tensor:
    """uint8 codes -> float32 c in [-1, 1] exactly as the decoder sees it."""
    return c8.to(torch.float32) / 127.5 - 1


def upsample_compact(c: torch.Tensor, alpha: int = ALPHA) -> torch.Tensor:
    """c' = bicubic x alpha (align_corners=False, no clamping): RecNet's ``upsample``."""
    h, w = c.shape[-2:]
    return F.interpolate(c, size=(h * alpha, w * alpha), mode="bicubic", align_corners=False)


def _pad(t: torch.Tensor, m: int) -> torch.Tensor:
    h, w = t.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if not (ph or pw):
        return t
    if t.dim() == 3:  # label map: pad as float then back
        return F.pad(t[:, None].float(), (0, pw, 0, ph), mode="replicate")[:, 0].to(t.dtype)
    return F.pad(t, (0, pw, 0, ph), mode="replicate")


# dsslic-edms: the same CompNet/FineNet, FineNet fine-tuned on SMapNet's output (EDMS §2.2)
@network("dsslic", "dsslic-edms")
class DSSLIC(nn.Module):
    """CompNet + FineNet (the generator side; discriminators live in training only)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)
        nc = config["num_classes"]
        # ``comp_learned: False`` (lite): the compact image is the plain 8x8 box average and
        # there is no CompNet. Measured on held-out frames (docs/training.md): the learned
        # lite CompNet made the lossless base layer ~20 % larger and the final image after
        # residual coding ~1 dB worse than the box average, so the lite config ships without.
        self.compnet = (CompNet(config["comp"], nc, bool(config.get("comp_skip", False)))
                        if config.get("comp_learned", True) else None)
        self.finenet = FineNet(config["fine"], config["n_res"], nc)

    def compact(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """x (N, 3, H, W) in [-1, 1], seg (N, H, W) -> c (N, 3, ceil(H/8), ceil(W/8)), float.

        Not yet quantised: pass it through :func:`compact_to_uint8` for the base layer.
        """
        if self.compnet is None:
            return F.avg_pool2d(_pad(x, ALPHA), ALPHA)
        return self.compnet(_pad(x, ALPHA), one_hot(_pad(seg, ALPHA), self.config["num_classes"]))

    def reconstruct(self, c: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RecNet: quantised c and seg (N, H, W) -> (x', c') cropped to H x W, in ~[-1, 1]."""
        h, w = seg.shape[-2:]
        c_up = upsample_compact(c)
        seg_p = _pad(seg, ALPHA)
        if seg_p.shape[-2:] != c_up.shape[-2:]:
            raise ValueError(f"compact image {tuple(c.shape[-2:])} does not match "
                             f"segmentation {h}x{w}")
        f = self.finenet(one_hot(seg_p, self.config["num_classes"]), c_up)
        return (c_up + f)[..., :h, :w], c_up[..., :h, :w]

    def forward(self, x: torch.Tensor, seg: torch.Tensor,
                ste: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training path: returns (x', c' , c_q) with c quantised by the STE."""
        cq = quantize_compact(self.compact(x, seg), ste=ste)
        xr, c_up = self.reconstruct(cq, seg)
        return xr, c_up, cq


def build_dsslic(config: str | dict[str, Any] = "lite") -> DSSLIC:
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return DSSLIC(cfg)


def build_discriminator(config: str | dict[str, Any] = "lite") -> MultiscaleDiscriminator:
    cfg = CONFIGS[config] if isinstance(config, str) else config
    return MultiscaleDiscriminator(cfg["disc"], cfg["num_classes"])
