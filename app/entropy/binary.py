"""Context-adaptive binary arithmetic coding of B-bit feature codes (DeepSIC §III-B).

DeepSIC codes its quantised features bit by bit, "a classifier that predicts the value of
each bit from its context" giving each bit's probability (as CABAC, Marpe et al. 2003,
and Rippel & Bourdev 2017, whose wording the paper follows). Here:

**Symbols.** Each feature code k in -31..32 (Eq. 1) is mapped to u in 0..63 by
``u = 2k - 1`` for k > 0 and ``u = -2k`` otherwise (zigzag), so that small magnitudes,
the common case, leave the high bit planes empty. The codes of one image form a
(C, H, W) array; only the first K channels (the operating point) are coded.

**Order.** Bit plane by bit plane from the most significant (p = 5) down; within a plane
in two passes over a checkerboard (positions with (y + x) even, then odd); within a pass
channel by channel in raster order. Every bit of a pass is coded with contexts that only
use bits of earlier passes, so a pass is one vectorised step for the encoder and the
decoder (12 steps per image whatever its size).

**Context** of bit p of channel c at (y, x) in pass ``parity`` (all known to the decoder):

- ``c``, ``p`` and ``parity`` (the bit's position in the code);
- the symbol's own more significant bits, ``min(u >> (p + 1), 3)``;
- its four neighbours (up, down, left, right; 0 outside) at the precision already
  decoded, ``known >> p``, each capped at 3 and summed, capped at 7: in the even pass the
  neighbours' planes above p, in the odd pass also their plane-p bits (the even positions
  were coded in the pass before).

**The classifier** is a table of P(bit = 1) per context in 16-bit fixed point (1..65535
over 65536), learned by counting on training images (:func:`fit_table`, add-1/2
smoothing). It is part of the network's weights. Contexts are computed with integer numpy
arithmetic and probabilities looked up in the integer table, so encoder and decoder
compute the very same probabilities bit for bit on any machine and thread count.

**Coding** is ``constriction``'s rANS with its ``Bernoulli`` model family, given the exact
dyadic float ``P / 65536`` of each bit (``perfect=False``: deterministic integer and IEEE
arithmetic). The layer's bytes are the rANS words (little-endian u32). Codec id
11 (``bitplanes-ctx`` in :data:`app.codecs.CODEC_IDS`).

numpy and constriction only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import PipelineError

B_BITS = 6
PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS
PROB_MIN, PROB_MAX = 16, PROB_ONE - 16  # never quite certain: a miss costs <= 12 bits
OWN_STATES = 4
NEIGHBOUR_STATES = 8
PASSES = 2


def table_size(channels: int) -> int:
    """Entries of the context table of a code with ``channels`` channels."""
    return channels * B_BITS * PASSES * OWN_STATES * NEIGHBOUR_STATES


def to_symbols(k: np.ndarray) -> np.ndarray:
    """Feature codes k in -31..32 -> u in 0..63 (zigzag), uint8."""
    k = np.asarray(k, dtype=np.int64)
    if k.size and (k.min() < -31 or k.max() > 32):
        raise PipelineError("feature code out of range -31..32")
    return np.where(k > 0, 2 * k - 1, -2 * k).astype(np.uint8)


def from_symbols(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_symbols` (int64)."""
    u = np.asarray(u, dtype=np.int64)
    return np.where(u & 1, (u + 1) // 2, -(u // 2))


def _parity_mask(h: int, w: int, parity: int) -> np.ndarray:
    yy, xx = np.indices((h, w))
    return ((yy + xx) & 1) == parity


def _neighbour_sum(known: np.ndarray) -> np.ndarray:
    """Σ over the 4 neighbours of min(known, 3) (0 outside), capped at 7; known: (C,H,W)."""
    v = np.minimum(known, 3).astype(np.int32)
    s = np.zeros_like(v)
    s[:, 1:, :] += v[:, :-1, :]
    s[:, :-1, :] += v[:, 1:, :]
    s[:, :, 1:] += v[:, :, :-1]
    s[:, :, :-1] += v[:, :, 1:]
    return np.minimum(s, NEIGHBOUR_STATES - 1)


def _contexts(partial: np.ndarray, p: int, parity: int, mask: np.ndarray) -> np.ndarray:
    """Context indices (int64, channel-major raster over ``mask``) of the bits of plane
    ``p`` in pass ``parity``, from ``partial``: the symbols as far as decoded (uint8)."""
    c = partial.shape[0]
    own = np.minimum(partial[:, mask] >> (p + 1), OWN_STATES - 1).astype(np.int64)
    nb = _neighbour_sum(partial >> p)[:, mask].astype(np.int64)
    ch = np.arange(c, dtype=np.int64)[:, None]
    idx = ((ch * B_BITS + p) * PASSES + parity) * OWN_STATES + own
    return (idx * NEIGHBOUR_STATES + nb).ravel()


def _passes(h: int, w: int):
    """(plane, parity, mask) in coding order."""
    masks = [_parity_mask(h, w, 0), _parity_mask(h, w, 1)]
    for p in range(B_BITS - 1, -1, -1):
        for parity in (0, 1):
            yield p, parity, masks[parity]


def _pass_contexts(u: np.ndarray, p: int, parity: int, mask: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(context indices, bits) of one pass in coding order, as the encoder sees them:
    ``u`` reduced to what the decoder knows at that pass."""
    h, w = u.shape[1:]
    partial = (u >> (p + 1)) << (p + 1)
    if parity == 1:
        partial = partial | (((u >> p) & 1) << p) * _parity_mask(h, w, 0)
    partial = partial.astype(np.uint8)
    return _contexts(partial, p, parity, mask), ((u[:, mask] >> p) & 1).ravel()


def _all_contexts(u: np.ndarray):
    """For every pass in coding order: (context indices, bits) (a generator)."""
    h, w = u.shape[1:]
    for p, parity, mask in _passes(h, w):
        yield _pass_contexts(u, p, parity, mask)


@dataclass(frozen=True)
class ContextModel:
    """The learned context table: P(bit = 1) in 1/65536 per context (int32)."""

    table: np.ndarray
    channels: int

    @classmethod
    def from_table(cls, table: np.ndarray, channels: int) -> ContextModel:
        t = np.asarray(table, dtype=np.int64).ravel()
        if t.size != table_size(channels):
            raise PipelineError(f"context table has {t.size} entries, expected "
                                f"{table_size(channels)} for {channels} channels")
        if t.min() < 1 or t.max() >= PROB_ONE:
            raise PipelineError("context table probabilities out of range")
        return cls(t.astype(np.int32), channels)

    @classmethod
    def uniform(cls, channels: int) -> ContextModel:
        """P = 1/2 everywhere (what an untrained network carries)."""
        return cls(np.full(table_size(channels), PROB_ONE // 2, np.int32), channels)

    def probabilities(self, ctx: np.ndarray) -> np.ndarray:
        """Integer P(1) of each context (int64)."""
        return self.table[ctx].astype(np.int64)


def fit_table(symbol_arrays: list[np.ndarray], channels: int, alpha: float = 0.5
              ) -> np.ndarray:
    """Learn the context table from training codes ((C, H, W) uint8 symbol arrays):
    P(1) = (n1 + α) / (n + 2α) per context, in 16-bit fixed point (int32)."""
    n = table_size(channels)
    ones = np.zeros(n, dtype=np.float64)
    total = np.zeros(n, dtype=np.float64)
    for u in symbol_arrays:
        if u.shape[0] != channels:
            raise ValueError("symbol array has the wrong channel count")
        for ctx, bits in _all_contexts(np.asarray(u, dtype=np.uint8)):
            ones += np.bincount(ctx, weights=bits.astype(np.float64), minlength=n)
            total += np.bincount(ctx, minlength=n)
    p = (ones + alpha) / (total + 2 * alpha)
    return np.clip(np.round(p * PROB_ONE), PROB_MIN, PROB_MAX).astype(np.int32)


def _model():
    import constriction

    return constriction.stream.model.Bernoulli(perfect=False)


def encode(u: np.ndarray, model: ContextModel) -> bytes:
    """Code the symbols ``u`` ((K, H, W) uint8 in 0..63, K <= the table's channels)."""
    import constriction

    u = np.ascontiguousarray(u, dtype=np.uint8)
    if u.ndim != 3 or u.shape[0] > model.channels:
        raise PipelineError(f"cannot code symbols of shape {u.shape}")
    if u.size and u.max() >= 1 << B_BITS:
        raise PipelineError("symbol out of range 0..63")
    if not u.size:
        return b""
    coder = constriction.stream.stack.AnsCoder()
    fam = _model()
    # a stack: the passes are pushed last first, each reversed, so the decoder pops them
    # in coding order; one pass at a time keeps the memory to one pass's contexts
    for p, parity, mask in reversed(list(_passes(*u.shape[1:]))):
        ctx, bits = _pass_contexts(u, p, parity, mask)
        probs = model.probabilities(ctx) / float(PROB_ONE)
        coder.encode_reverse(bits.astype(np.int32), fam, probs)
    return coder.get_compressed().astype("<u4").tobytes()


def decode(data: bytes, shape: tuple[int, int, int], model: ContextModel) -> np.ndarray:
    """The (K, H, W) uint8 symbols :func:`encode` coded (``shape`` from the header)."""
    import constriction

    k, h, w = shape
    if k > model.channels:
        raise PipelineError(f"{k} channels coded, the context table has {model.channels}")
    u = np.zeros((k, h, w), dtype=np.uint8)
    if not u.size:
        if data:
            raise PipelineError("feature stream is not empty for an empty code")
        return u
    if len(data) % 4:
        raise PipelineError("feature stream length is not a multiple of 4 bytes")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").copy())
    fam = _model()
    try:
        for p, parity, mask in _passes(h, w):
            ctx = _contexts(u, p, parity, mask)
            probs = model.probabilities(ctx) / float(PROB_ONE)
            bits = coder.decode(fam, probs).astype(np.uint8)
            u[:, mask] |= (bits << p).reshape(k, -1)
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise PipelineError(f"feature stream is damaged: {exc}") from exc
    if not coder.is_empty():
        raise PipelineError("feature stream is damaged: bytes left over after decoding")
    return u


def bit_costs(u: np.ndarray, model: ContextModel) -> np.ndarray:
    """−log2 P of every coded bit under the context model, summed over planes and
    channels: an (H, W) float32 map of where the bits go."""
    u = np.ascontiguousarray(u, dtype=np.uint8)
    k, h, w = u.shape
    out = np.zeros((k, h, w), dtype=np.float64)
    for (p, parity, mask), (ctx, bits) in zip(_passes(h, w), _all_contexts(u), strict=True):
        del p, parity
        p1 = model.probabilities(ctx) / float(PROB_ONE)
        cost = -np.log2(np.where(bits == 1, p1, 1.0 - p1)).reshape(k, -1)
        out[:, mask] += cost
    return out.sum(axis=0).astype(np.float32)


def adaptive_plane_bits(u: np.ndarray) -> float:
    """The reference for the context model's gain: the ideal cost in bits of the same
    bits, in the same order, with one adaptive probability per bit plane (a
    Krichevsky-Trofimov count estimate, updated after each bit)."""
    u = np.ascontiguousarray(u, dtype=np.uint8)
    h, w = u.shape[1:]
    per_plane: dict[int, list[np.ndarray]] = {}
    for (p, _, _), (_, bits) in zip(_passes(h, w), _all_contexts(u), strict=True):
        per_plane.setdefault(p, []).append(bits)
    total = 0.0
    for chunks in per_plane.values():
        b = np.concatenate(chunks).astype(np.float64)
        ones_before = np.concatenate([[0.0], np.cumsum(b)[:-1]])
        n_before = np.arange(b.size, dtype=np.float64)
        p1 = (ones_before + 0.5) / (n_before + 1.0)
        total += float(-np.log2(np.where(b == 1, p1, 1.0 - p1)).sum())
    return total
