"""Arithmetic coding of integer latents with fixed 16-bit tables, through ``constriction``.

Each symbol i has a value v_i and a table index k_i; table k is an integer frequency table
(summing to 2**16, no zero entry; :func:`app.entropy.models.quantise_pmf`) over the values
``offset_k .. offset_k + len_k - 2`` plus a last *escape* entry. A value outside its table's
range is coded as the escape, and its value follows at the end of its chunk with a
uniform model over 16 bits.

A stream is one rANS stack (``constriction.stream.stack.AnsCoder``) of one or more chunks
(:class:`StackEncoder`). Within a chunk, symbols are grouped
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


def _runs_by_table(k: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(table, positions) of each table used in ``k`` (flat), ascending by table, each
    table's positions in raster order: the order a chunk's symbols are coded in."""
    order = np.argsort(k, kind="stable")
    ks = k[order]
    bounds = np.flatnonzero(np.diff(ks)) + 1
    return [(int(ks[a]), order[a:b])
            for a, b in zip(np.r_[0, bounds], np.r_[bounds, ks.size], strict=True) if b > a]


class StackEncoder:
    """One rANS stream holding several chunks of symbols, each with its own table indexes.

    A decoder may learn a chunk's table indexes only from the chunks before it (the
    checkerboard context's coding steps), so a layer used to hold one stream per chunk;
    each stream cost its coder's final state and a length prefix, 6-8 bytes, 80 bytes a
    file: 6 % of a 451x300 photograph's file at the lowest quality. One stream saves
    that: rANS is a stack, so the encoder, which knows every chunk, pushes them last
    first (:meth:`push`), and :class:`StackDecoder` pops them in reading order. Within a chunk
    the symbols go table by table (the module's docstring), its escapes last."""

    def __init__(self, tables: TableSet) -> None:
        import constriction

        self.tables = tables
        self._coder = constriction.stream.stack.AnsCoder()

    def push(self, values: np.ndarray, indexes: np.ndarray) -> None:
        """Push one chunk: integer ``values`` (any shape) whose tables are ``indexes``
        (same shape). The decoder reads it *before* every chunk pushed earlier."""
        v = np.ascontiguousarray(values, dtype=np.int64).ravel()
        k = np.ascontiguousarray(indexes, dtype=np.int64).ravel()
        if v.shape != k.shape:
            raise ValueError("values and indexes differ in shape")
        sym, escaped = self.tables.symbols(v, k)
        esc_values = v[escaped]
        if esc_values.size and (np.abs(esc_values).max() >= _ESCAPE_OFFSET):
            raise PipelineError("a latent value is out of the coder's range (|v| >= 32768)")
        # a stack: what the decoder reads last is pushed first
        if esc_values.size:
            self._coder.encode_reverse((esc_values + _ESCAPE_OFFSET).astype(np.int32),
                                       self.tables.escape_model)
        for table, idx in reversed(_runs_by_table(k)):
            self._coder.encode_reverse(sym[idx].astype(np.int32), self.tables.models[table])

    def finish(self) -> bytes:
        """The stream (little-endian 32-bit words)."""
        return self._coder.get_compressed().astype("<u4").tobytes()


class StackDecoder:
    """Reads the chunks a :class:`StackEncoder` pushed, first read = last pushed."""

    def __init__(self, data: bytes, tables: TableSet) -> None:
        import constriction

        if len(data) % 4:
            raise PipelineError("latent stream length is not a multiple of 4 bytes")
        self.tables = tables
        try:
            self._coder = constriction.stream.stack.AnsCoder(
                np.frombuffer(data, dtype="<u4").copy())
        except ValueError as exc:  # e.g. a stream ending in a zero word
            raise PipelineError(f"latent stream is damaged: {exc}") from exc

    def pop(self, indexes: np.ndarray) -> np.ndarray:
        """The values of the next chunk, whose tables are ``indexes`` (in their shape)."""
        tables = self.tables
        k = np.ascontiguousarray(indexes, dtype=np.int64).ravel()
        if k.size and (k.min() < 0 or k.max() >= len(tables.models)):
            raise PipelineError("table index out of range")
        sym = np.empty(k.size, dtype=np.int64)
        try:
            for table, idx in _runs_by_table(k):
                sym[idx] = self._coder.decode(tables.models[table], idx.size)
            escaped = sym == tables.sizes[k] - 1
            values = sym + tables.offsets[k]
            n_esc = int(escaped.sum())
            if n_esc:
                values[escaped] = self._coder.decode(tables.escape_model, n_esc).astype(
                    np.int64) - _ESCAPE_OFFSET
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise PipelineError(f"latent stream is damaged: {exc}") from exc
        return values.reshape(np.shape(indexes))

    def close(self) -> None:
        """Check that the stream held exactly the chunks read (:class:`PipelineError` if
        not: a damaged or padded stream)."""
        if not self._coder.is_empty():
            raise PipelineError("latent stream is damaged: data left after its last symbol")


def encode(values: np.ndarray, indexes: np.ndarray, tables: TableSet) -> bytes:
    """Code integer ``values`` (any shape) whose tables are ``indexes`` (same shape): a
    stream of one chunk."""
    enc = StackEncoder(tables)
    enc.push(values, indexes)
    return enc.finish()


def decode(data: bytes, indexes: np.ndarray, tables: TableSet) -> np.ndarray:
    """The values :func:`encode` coded with these ``indexes`` (returned in their shape)."""
    dec = StackDecoder(data, tables)
    values = dec.pop(indexes)
    dec.close()
    return values
