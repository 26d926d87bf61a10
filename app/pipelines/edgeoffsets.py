"""Edge offsets: a few coded integers that correct the outer rows and columns of a decoded
image, for the learned transform codecs.

Why. A synthesis transform reconstructs every pixel from the latent samples around it,
16x16 pixels per sample; a one-pixel line at an image edge that differs from its
neighbours (the dark last row or column several Kodak scans end in) is smeared into the
interior's colour, and nothing in the latent pays for it, because the networks were
trained on crops whose edges are image interior. HEVC codes such a line in 4x4 blocks.
On Kodak the outer 4 rows and columns cost the learned codecs 0.13 dB of the image's
PSNR where HEVC loses 0.007 dB (``docs/results.md``, "What an image's border costs").
Retraining the transforms on such edges would change the latent, and with it the
semantics MENet and DeepSIC carry; this layer corrects the edge instead, for bytes the
encoder spends only where they pay.

What. For each of the :data:`LINES` outermost rows and columns of each edge (the order
of :func:`edge_lines`) and each colour channel, one integer v: the decoder adds
``v * step`` to that line's decoded values and clips to 0..255, line after line in that
order (a corner pixel, on two lines, gets both). The encoder picks each v, given the
lines already corrected, to minimise ``SSE + 3 / λ · bits`` (the training loss
``λ·255²·MSE + bpp`` of the codec's quality, over a line's values), and writes the
layer only when its whole saving in that loss exceeds its bytes (:func:`choose`).

Layer bytes: ``lines`` (1 byte, 1..:data:`MAX_LINES`), ``step`` (1 byte, 1..:data:`MAX_STEP`),
two tables (1 byte each: scale indices of :func:`app.entropy.models.scale_table`, the
zero-mean Gaussian tables the latents are coded with), then one rANS stream
(:mod:`app.entropy.coder`, ``constriction``) of two chunks: each line's G integer under
the first table, then each line's R − G and B − G under the second
(:func:`coded_values`). Pure integer arithmetic on the 8-bit image: the decoder's result
is the encoder's bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.entropy import coder
from app.entropy.models import gaussian_table_set as _tables
from app.errors import PipelineError

LINES = 6  # outer rows/columns per edge (app.metrics.border_cost measures 4)
MAX_LINES = 16
STEP = 2  # offset quantisation (8-bit levels per unit)
MAX_STEP = 32
HEADER = 4  # bytes before the stream: lines, step, the two tables
#: bytes a layer's entry costs in the container besides its payload (kind, codec id, a
#: one-byte length, CRC-32), counted against its saving (docs/edms-format.md)
LAYER_OVERHEAD = 7

Line = tuple[int, int]  # (axis, index): axis 0 a row, 1 a column


def edge_lines(h: int, w: int, lines: int = LINES) -> list[Line]:
    """The lines the offsets correct, in coding order: for k = 0 .. lines - 1, row k, row
    h - 1 - k, column k, column w - 1 - k; a line already listed (a small image) or outside
    the image is left out. Depends on the size alone, so the decoder lists the same."""
    out: list[Line] = []
    seen: set[Line] = set()
    for k in range(lines):
        for axis, index, size in ((0, k, h), (0, h - 1 - k, h), (1, k, w), (1, w - 1 - k, w)):
            if 0 <= index < size and (axis, index) not in seen:
                seen.add((axis, index))
                out.append((axis, index))
    return out


def _line(image: np.ndarray, line: Line) -> np.ndarray:
    axis, index = line
    return image[index] if axis == 0 else image[:, index]


def _bits_per_value(table: int, values: np.ndarray) -> np.ndarray:
    """−log2 p of each value under table ``table`` (escapes count their 16 extra bits)."""
    tables = _tables()
    values = np.asarray(values, dtype=np.int64)
    idx = np.full(values.shape, table, dtype=np.int64)
    freqs = tables.frequencies(values, idx).astype(np.float64)
    _, escaped = tables.symbols(values, idx)
    return -np.log2(freqs / float(1 << 16)) + escaped * coder.ESCAPE_BITS


def _best_table(values: np.ndarray) -> int:
    n = len(_tables().freqs)
    return int(np.argmin([_bits_per_value(t, values).sum() for t in range(n)]))


def coded_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G per line, then R − G and B − G per line): what the stream codes. The offsets of
    a line's three channels are alike (a dark line is dark in all three), so their
    differences are small."""
    g = values[:, 1]
    return g, np.stack([values[:, 0] - g, values[:, 2] - g], axis=1)


def _tables_for(values: np.ndarray) -> tuple[int, int]:
    g, d = coded_values(values)
    return _best_table(g), _best_table(d.ravel())


def _pick(image: np.ndarray, fixed: np.ndarray, lines: Sequence[Line], step: int,
          rate_weight: float, tables: tuple[int, int] | None) -> np.ndarray:
    """Each line's (R, G, B) integers, chosen line after line on the image corrected so
    far (``fixed``, int16, corrected in place): G, then R and B, each the v minimising
    SSE + rate_weight·bits (bits of G under the first table, of R − G and B − G under the
    second; none counted without tables)."""
    vmax = 255 // step
    cand = np.arange(-vmax, vmax + 1, dtype=np.int64)
    out = np.zeros((len(lines), 3), dtype=np.int64)
    for i, line in enumerate(lines):
        target = _line(image, line).astype(np.int32)  # (n, 3)
        cur = _line(fixed, line)
        # (candidates, n, 3): each candidate's squared error on each value
        trial = np.clip(cur[None].astype(np.int32) + cand[:, None, None].astype(np.int32)
                        * step, 0, 255)
        sse = ((trial - target[None]) ** 2).sum(axis=1).astype(np.float64)  # (cand, 3)
        for c in (1, 0, 2):
            bits = (0.0 if tables is None else _bits_per_value(tables[0], cand) if c == 1
                    else _bits_per_value(tables[1], cand - out[i, 1]))
            out[i, c] = cand[int(np.argmin(sse[:, c] + rate_weight * bits))]
        cur[...] = np.clip(cur + (out[i] * step).astype(np.int16), 0, 255)
    return out


def _apply(recon: np.ndarray, lines: Sequence[Line], values: np.ndarray, step: int
           ) -> np.ndarray:
    fixed = recon.astype(np.int16)
    for line, v in zip(lines, values, strict=True):
        cur = _line(fixed, line)
        cur[...] = np.clip(cur + (v * step).astype(np.int16), 0, 255)
    return fixed.astype(np.uint8)


def choose(image: np.ndarray, recon: np.ndarray, lam: float, lines: int = LINES,
           step: int = STEP) -> tuple[bytes | None, np.ndarray]:
    """The layer's bytes for ``recon``, the decoded HxWx3 uint8 of ``image`` at a quality
    trained with ``λ = lam``, and the corrected image; ``(None, recon)`` when the layer
    would not pay for itself (its saving in ``λ·255²·MSE + bpp`` is below its bytes)."""
    if image.shape != recon.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("edge offsets need two HxWx3 images of the same size")
    if not 1 <= lines <= MAX_LINES or not 1 <= step <= MAX_STEP:
        raise ValueError(f"edge offsets: lines must be 1..{MAX_LINES}, step 1..{MAX_STEP}")
    h, w = image.shape[:2]
    todo = edge_lines(h, w, lines)
    # J·(h·w) = bits + λ·SSE/3 (SSE over all values; MSE averages the 3 channels)
    rate_weight = 3.0 / lam
    values = _pick(image, recon.astype(np.int16), todo, step, rate_weight, None)
    values = _pick(image, recon.astype(np.int16), todo, step, rate_weight,
                   _tables_for(values))
    if not values.any():
        return None, recon
    tables = _tables_for(values)
    g, d = coded_values(values)
    enc = coder.StackEncoder(_tables())
    enc.push(d, np.full(d.shape, tables[1], dtype=np.int64))  # a stack: last coded first
    enc.push(g, np.full(g.shape, tables[0], dtype=np.int64))
    payload = bytes([lines, step, *tables]) + enc.finish()
    fixed = _apply(recon, todo, values, step)
    err = image.astype(np.int64)
    saved = float(((err - recon) ** 2).sum() - ((err - fixed) ** 2).sum())
    if lam * saved / 3.0 <= 8 * (len(payload) + LAYER_OVERHEAD):
        return None, recon
    return payload, fixed


def apply(recon: np.ndarray, payload: bytes, name: str) -> np.ndarray:
    """The decoder's side: ``recon`` corrected by the layer ``payload`` (of pipeline
    ``name``, for messages); a malformed layer raises :class:`PipelineError`."""
    if len(payload) < HEADER:
        raise PipelineError(f"{name}: the edge-offsets layer is truncated")
    lines, step, t_g, t_d = payload[:HEADER]
    n = len(_tables().freqs)
    if not 1 <= lines <= MAX_LINES or not 1 <= step <= MAX_STEP or max(t_g, t_d) >= n:
        raise PipelineError(f"{name}: the edge-offsets layer's header is invalid "
                            f"(lines {lines}, step {step}, tables {t_g}, {t_d})")
    h, w = recon.shape[:2]
    todo = edge_lines(h, w, lines)
    dec = coder.StackDecoder(payload[HEADER:], _tables())
    g = dec.pop(np.full(len(todo), t_g, dtype=np.int64))
    d = dec.pop(np.full((len(todo), 2), t_d, dtype=np.int64))
    dec.close()
    values = np.stack([d[:, 0] + g, g, d[:, 1] + g], axis=1)
    if np.abs(values).max(initial=0) * step > 255:
        raise PipelineError(f"{name}: the edge-offsets layer holds an offset beyond ±255")
    return _apply(recon, todo, values, step)
