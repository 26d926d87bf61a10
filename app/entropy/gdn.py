"""Generalized divisive normalization (GDN) and its inverse.

Ballé, Laparra, Simoncelli, "Density modeling of images using a generalized normalization
transformation", ICLR 2016, Eq. 6 (the simplified form of "End-to-end optimized image
compression", ICLR 2017, §2): y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2); the inverse
(IGDN) multiplies instead of dividing.

beta and gamma must stay non-negative: they are stored re-parametrised, as in the papers'
reference code, as squares of parameters bounded below (beta >= 1e-6, gamma >= 0), with a
small pedestal for stability near zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_PEDESTAL = 2.0 ** -18


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when x is below the bound and the
    gradient pushes x up (so a parameter stuck at the bound can recover)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN205
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad < 0)
        return grad * pass_through.to(grad.dtype), None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, bound)


class GDN(nn.Module):
    """GDN over the channels of an NCHW tensor (``inverse=True``: IGDN)."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        self._beta_bound = (beta_min + _PEDESTAL) ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + _PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = lower_bound(self.beta, self._beta_bound) ** 2 - _PEDESTAL
        gamma = lower_bound(self.gamma, _PEDESTAL ** 0.5) ** 2 - _PEDESTAL
        norm = F.conv2d(x * x, gamma.view(c, c, 1, 1), beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


def IGDN(channels: int) -> GDN:  # noqa: N802 - named after the paper's layer
    return GDN(channels, inverse=True)
