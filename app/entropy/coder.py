"""Arithmetic coding of integer latents with fixed 16-bit tables, through ``constriction``.

Each symbol i has a value v_i and a table index k_i; table k is an integer frequency table
(summing to 2**16, no zero entry; :func:`app.entropy.models.quantise_pmf`) over the values
``offset_k .. offset_k + len_k - 2`` plus a last *escape* entry. A value outside its table's
range is coded as the escape, and its value follows at the end of the stream with a
uniform model over 16 bits.

The stream is one rANS stack (``constriction.stream.stack.AnsCoder``): symbols are grouped
by table and coded group after group in ascending table index, each group in raster order,
so the decoder, which knows every k_i before it decodes (the hyper-decoder computed them),
pops them in the same order. Grouping lets one ``Categorical`` model code a whole group in
one call instead of one Python call per symbol.

The frequencies are handed to constriction as float64 multiples of 2**-16; it re-quantises
them deterministically (``perfect=False``: pure integer and IEEE arithmetic, no
transcendental functions), so encoder and decoder get the same model from the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.errors import PipelineError

ESCAPE_BITS = 16
_ESCAPE_OFFSET = 1 << (ESCAPE_BITS - 1)


class TableSet:
    """A list of frequency tables and their value offsets, with their constriction models."""

    def __init__(self, freqs: Sequence[np.ndarray], offsets: Sequence[int]) -> None:
        import constriction

        if len(freqs) != len(offsets):
            raise ValueError("one offset per table")
        self.freqs = [np.asarray(f, dtype=np.int64) for f in freqs]
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.sizes = np.array([f.size for f in self.freqs], dtype=np.int64)
        # every table end to end, for looking frequencies up without a loop over tables
        self._flat = np.concatenate(self.freqs) if self.freqs else np.zeros(0, np.int64)
        self._starts = np.cumsum(self.sizes) - self.sizes
        cat = constriction.stream.model.Categorical
        self.models = [cat(f.astype(np.float64) / float(f.sum()), perfect=False)
                       for f in self.freqs]
        self.escape_model = constriction.stream.model.Uniform(1 << ESCAPE_BITS)

    def symbols(self, values: np.ndarray, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(symbols, escaped-mask): values mapped into their tables, escapes marked."""
        s = values.astype(np.int64) - self.offsets[indexes]
        esc_sym = self.sizes[indexes] - 1
        escaped = (s < 0) | (s >= esc_sym)
        return np.where(escaped, esc_sym, s), escaped

    def frequencies(self, values: np.ndarray, indexes: np.ndarray) -> np.ndarray:
        """The table frequency of each value (its escape's for values outside the table;
        the escaped value's own 16 bits are not counted), out of 2**16."""
        sym, _ = self.symbols(values, indexes)
        return self._flat[self._starts[indexes] + sym]


def encode(values: np.ndarray, indexes: np.ndarray, tables: TableSet) -> bytes:
    """Code integer ``values`` (any shape) whose tables are ``indexes`` (same shape)."""
    import constriction

    v = np.ascontiguousarray(values, dtype=np.int64).ravel()
    k = np.ascontiguousarray(indexes, dtype=np.int64).ravel()
    if v.shape != k.shape:
        raise ValueError("values and indexes differ in shape")
    sym, escaped = tables.symbols(v, k)
    esc_values = v[escaped]
    if esc_values.size and (np.abs(esc_values).max() >= _ESCAPE_OFFSET):
        raise PipelineError("a latent value is out of the coder's range (|v| >= 32768)")
    coder = constriction.stream.stack.AnsCoder()
    # a stack: what the decoder reads last is pushed first
    if esc_values.size:
        coder.encode_reverse((esc_values + _ESCAPE_OFFSET).astype(np.int32), tables.escape_model)
    order = np.argsort(k, kind="stable")
    ks = k[order]
    bounds = np.flatnonzero(np.diff(ks)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [ks.size]])
    for a, b in reversed(list(zip(starts, ends, strict=True))):
        if b > a:
            coder.encode_reverse(sym[order[a:b]].astype(np.int32), tables.models[int(ks[a])])
    return coder.get_compressed().astype("<u4").tobytes()


def decode(data: bytes, indexes: np.ndarray, tables: TableSet) -> np.ndarray:
    """The values :func:`encode` coded with these ``indexes`` (returned in their shape)."""
    import constriction

    if len(data) % 4:
        raise PipelineError("latent stream length is not a multiple of 4 bytes")
    k = np.ascontiguousarray(indexes, dtype=np.int64).ravel()
    if k.size and (k.min() < 0 or k.max() >= len(tables.models)):
        raise PipelineError("table index out of range")
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, dtype="<u4").copy())
    order = np.argsort(k, kind="stable")
    ks = k[order]
    sym = np.empty(k.size, dtype=np.int64)
    bounds = np.flatnonzero(np.diff(ks)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    ends = np.concatenate([bounds, [ks.size]]).astype(np.int64)
    try:
        for a, b in zip(starts, ends, strict=True):
            if b > a:
                sym[order[a:b]] = coder.decode(tables.models[int(ks[a])], int(b - a))
        escaped = sym == tables.sizes[k] - 1
        values = sym + tables.offsets[k]
        n_esc = int(escaped.sum())
        if n_esc:
            values[escaped] = coder.decode(tables.escape_model, n_esc).astype(np.int64) \
                - _ESCAPE_OFFSET
    except (ValueError, RuntimeError, AssertionError) as exc:
        raise PipelineError(f"latent stream is damaged: {exc}") from exc
    return values.reshape(np.shape(indexes))
