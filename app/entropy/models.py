"""Entropy models of the learned codecs and their integer probability tables.

Ballé, Minnen, Singh, Hwang, Johnston, "Variational image compression with a scale
hyperprior", ICLR 2018:

- :class:`EntropyBottleneck`: the non-parametric, fully factorized density of the
  hyper-latent z (appendix 6.1: per channel, a cumulative ``c(x) = f_K ∘ ... ∘ f_1`` with
  ``f_k(x) = g_k(H^(k) x + b^(k))``, ``g_k(x) = x + a^(k) ⊙ tanh(x)``, softplus(H) >= 0 so
  that c is monotonic; filters (3, 3, 3), init scale 10).
- :class:`GaussianConditional`: the latent y given the hyper-decoder's scales: each ŷ_i is
  a zero-mean Gaussian of scale σ_i convolved with a unit uniform (§3, Eq. 11).

Training uses additive uniform noise in place of rounding; inference rounds.

**Bit-exact probabilities.** An arithmetic decoder must use the very probabilities of the
encoder, or it decodes garbage without noticing. So nothing continuous reaches the coder:

- σ is mapped to an index into a fixed table of 64 scales, log-spaced from 0.11 to 256
  (as CompressAI's ``get_scale_table``), rounding σ *up* to the next table entry;
- every table entry (and every channel of the bottleneck) has a probability table over a
  bounded integer support plus one escape symbol, quantised to 16 bits with no zero
  frequency (:func:`quantise_pmf`);
- these tables and the scale indices are computed on the CPU in float32 with a fixed
  number of threads, identically by encoder and decoder, and the decoded file's
  reconstruction is hashed so that any remaining difference is caught (see the
  pipelines).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.entropy import coder
from app.entropy.gdn import lower_bound

PMF_BITS = 16
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
LIKELIHOOD_MIN = 1e-9
TAIL_MASS = 1e-9  # probability mass outside a table's support (coded with the escape)
BOTTLENECK_RANGE = 48  # hyper-latent support [-48, 48] (escape beyond)


def scale_table() -> torch.Tensor:
    """The 64 scales, log-spaced from 0.11 to 256 (float32)."""
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def scale_indices(scales: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the smallest table scale >= each scale (the last one for larger); int64."""
    table = scale_table() if table is None else table
    return torch.bucketize(scales.float().contiguous(), table[:-1].contiguous())


def quantise_pmf(pmf: np.ndarray, bits: int = PMF_BITS) -> np.ndarray:
    """Float probabilities (the last entry the escape's mass) -> integer frequencies that
    sum to 2**bits, every one at least 1. Deterministic: numpy float64 arithmetic only."""
    pmf = np.asarray(pmf, dtype=np.float64)
    total = 1 << bits
    n = pmf.size
    if n >= total:
        raise ValueError("support too large for the frequency precision")
    p = pmf / pmf.sum()
    freq = np.maximum(1, np.floor(p * (total - n) + 0.5).astype(np.int64))
    diff = total - int(freq.sum())
    # give or take the difference from the most probable symbols (never below 1), one
    # unit per symbol per pass in order of decreasing frequency, passes vectorised
    order = np.argsort(-freq, kind="stable")
    if diff > 0:
        freq[order] += diff // n
        freq[order[: diff % n]] += 1
    while diff < 0:
        eligible = order[freq[order] >= 2]
        take = eligible[:-diff]
        freq[take] -= 1
        diff += take.size
    return freq


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2 ** -0.5))


class GaussianConditional(nn.Module):
    """Likelihoods of y under zero-mean Gaussians ⊛ U(-1/2, 1/2) with given scales."""

    table: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("table", scale_table(), persistent=False)

    @staticmethod
    def quantise(y: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return torch.round(y)

    @staticmethod
    def likelihood(y_hat: torch.Tensor, scales: torch.Tensor,
                   means: torch.Tensor | None = None) -> torch.Tensor:
        """P(ŷ) under N(mean, scale) ⊛ U(-1/2, 1/2) (mean 0 when ``means`` is None)."""
        s = lower_bound(scales, SCALE_MIN)
        v = (y_hat if means is None else y_hat - means).abs()
        # upper tail for precision: P = Φ((0.5 - |v|)/σ) - Φ((-0.5 - |v|)/σ)
        p = _std_normal_cdf((0.5 - v) / s) - _std_normal_cdf((-0.5 - v) / s)
        return lower_bound(p, LIKELIHOOD_MIN)

    def forward(self, y: torch.Tensor, scales: torch.Tensor,
                means: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y_hat = self.quantise(y, self.training)
        return y_hat, self.likelihood(y_hat, scales, means)

    def tables(self) -> list[np.ndarray]:
        """One quantised table per scale index over [-L, L] + escape, L = ceil(σ·z_tail)."""
        return [t for t, _ in self.mean_tables(1)]

    def mean_tables(self, steps: int) -> list[tuple[np.ndarray, int]]:
        """(table, offset of its first value) per scale index ``s`` and fractional mean
        ``f / steps`` (f = 0 .. steps - 1), at position ``s * steps + f``: the integers
        k in [-L, L + 1] (just [-L, L] when ``steps`` is 1) under N(f / steps, σ_s) ⊛ U,
        L = ceil(σ_s·z_tail), plus the escape. A value ŷ whose quantised mean is
        ``m_int + f / steps`` is coded as ŷ - m_int in table ``s * steps + f``
        (:mod:`app.nets.checkerboard`)."""
        mult = -float(torch.special.ndtri(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))
        out = []
        fractions = torch.arange(steps, dtype=torch.float64).view(-1, 1) / steps
        for s in self.table.double():
            half = int(math.ceil(float(s) * mult))
            v = torch.arange(-half, half + 1 + (steps > 1), dtype=torch.float64)
            d = (v.view(1, -1) - fractions).abs()  # all fractions of this scale at once
            pmfs = _std_normal_cdf((0.5 - d) / s) - _std_normal_cdf((-0.5 - d) / s)
            for pmf in pmfs.numpy():
                tail = max(0.0, 1.0 - float(pmf.sum()))
                out.append((quantise_pmf(np.append(pmf, max(tail, 1e-12))), -half))
        return out


class EntropyBottleneck(nn.Module):
    """Fully factorized density of the hyper-latent, one per channel (appendix 6.1)."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3),
                 init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cumulative(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, N) -> logits of the cumulative at x, (C, 1, N)."""
        factors: list[torch.Tensor] = list(self.factors)
        for i, (m, b) in enumerate(zip(self.matrices, self.biases, strict=True)):
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(factors):
                x = x + torch.tanh(factors[i]) * torch.tanh(x)
        return x

    def _likelihood_cn(self, v: torch.Tensor) -> torch.Tensor:
        """v: (C, 1, N) values -> P(v - 1/2 < Z < v + 1/2) per channel."""
        lower = self._logits_cumulative(v - 0.5)
        upper = self._logits_cumulative(v + 0.5)
        sign = -torch.sign(lower + upper).detach()
        return (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (N, C, H, W) -> (ẑ, likelihoods) (noise in training, rounding otherwise)."""
        z_hat = z + torch.empty_like(z).uniform_(-0.5, 0.5) if self.training else torch.round(z)
        n, c, h, w = z_hat.shape
        v = z_hat.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lik = self._likelihood_cn(v).reshape(c, n, h, w).permute(1, 0, 2, 3)
        return z_hat, lower_bound(lik, LIKELIHOOD_MIN)

    def tables(self) -> list[np.ndarray]:
        """One quantised table per channel over [-R, R] + escape."""
        r = BOTTLENECK_RANGE
        v = torch.arange(-r, r + 1, dtype=torch.float32).view(1, 1, -1)
        with torch.no_grad():
            pmf = self._likelihood_cn(v.expand(self.channels, 1, -1)).reshape(self.channels, -1)
        out = []
        for row in pmf.double().numpy():
            tail = max(0.0, 1.0 - float(row.sum()))
            out.append(quantise_pmf(np.append(row, max(tail, 1e-12))))
        return out


def bits_of(likelihoods: torch.Tensor) -> torch.Tensor:
    """Total information content −Σ log2 p."""
    return -torch.log2(likelihoods).sum()


@functools.cache
def gaussian_table_set() -> coder.TableSet:
    """:class:`GaussianConditional`'s zero-mean tables, one per scale index, as the coder's
    :class:`app.entropy.coder.TableSet` (built once per process): the latents of the
    codecs without means, and the edge offsets (:mod:`app.pipelines.edgeoffsets`)."""
    freqs = GaussianConditional().tables()
    return coder.TableSet(freqs, [-((f.size - 1) // 2) for f in freqs])
