"""Lossless layer codecs for label maps (HxW uint8) and small images (HxWx3 uint8).

DSSLIC (Sec. 3.1) and SMIC (Sec. 3) send the semantic map and the compact base image
losslessly (the papers use FLIF / a lossless image codec); we use today's best widely
available lossless coders through imagecodecs and keep whichever is smallest per array:

* JPEG XL lossless (libjxl modular mode). Measured on CamVid label maps and Kodak:
  effort 10 gives the smallest label maps (~13 % below effort 7), while on natural RGB
  images effort 7 beats 9 and 10 and is 6-15x faster, so the default tries effort 7 and,
  for arrays up to :data:`SMALL_PIXELS` pixels, effort 10 too and keeps the smaller.
* PNG (zlib level 9): the universal fallback.
* WebP lossless, level 100; method 6 up to :data:`SMALL_PIXELS` pixels, else method 5
  (method 6 takes ~10 s on a Kodak image for <1 % gain).
* raw: a few header bytes plus the samples; wins only for tiny arrays (1x1, 2x2, ...).

Layer formats: ``jpegxl`` a bare JPEG XL codestream; ``png`` a PNG file; ``webp`` a WebP
RIFF file, prefixed by the byte ``G`` when the array was HxW (WebP stores RGB only, so a
gray array is coded as R=G=B and the decoder returns one channel); ``raw`` see
:class:`RawCodec`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from app.cancel import check_cancelled, interruptible
from app.codecs.base import (
    LayerCodec,
    as_bytes,
    check_image,
    check_pixel_limit,
    codec_errors,
    decode_checked,
    read_varint,
    write_varint,
)
from app.errors import CodecError

CODEC_ID_RAW = 1
CODEC_ID_JPEGXL = 3
CODEC_ID_PNG = 4
CODEC_ID_WEBP = 5

SMALL_PIXELS = 2**18
"""Arrays up to this many pixels get the slow, strongest settings."""

_GRAY_WEBP = b"G"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


# --------------------------------------------------------------------------- headers


def jxl_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a bare JPEG XL codestream's SizeHeader (ISO/IEC 18181-1 D.2)."""
    if len(data) < 2 or data[:2] != b"\xff\x0a":
        raise CodecError("not a JPEG XL codestream")
    bits = int.from_bytes(data[2:12].ljust(10, b"\0"), "little")
    pos = 0

    def u(n: int) -> int:
        nonlocal pos
        value = (bits >> pos) & ((1 << n) - 1)
        pos += n
        return value

    def u32_size() -> int:  # U32(Bits(9), Bits(13), Bits(18), Bits(30)) + 1
        return u((9, 13, 18, 30)[u(2)]) + 1

    small = u(1)
    height = (u(5) + 1) * 8 if small else u32_size()
    ratio = u(3)
    if ratio == 0:
        width = (u(5) + 1) * 8 if small else u32_size()
    else:
        num, den = ((1, 1), (12, 10), (4, 3), (3, 2), (16, 9), (5, 4), (2, 1))[ratio - 1]
        width = height * num // den
    if len(data) < 2 + (pos + 7) // 8:
        raise CodecError("truncated JPEG XL codestream")
    return width, height


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's IHDR chunk."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise CodecError("not a PNG file")
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def webp_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a WebP RIFF header (VP8, VP8L or VP8X chunk)."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise CodecError("not a WebP file")
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
    else:
        raise CodecError("unknown WebP chunk")
    return width, height


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


# --------------------------------------------------------------------------- codecs


class JxlLosslessCodec(LayerCodec):
    """JPEG XL lossless. ``effort=None`` tries effort 7 (and 10 for small arrays)."""

    codec_id = CODEC_ID_JPEGXL
    lossless = True

    def __init__(self, effort: int | None = None) -> None:
        if effort is not None and not 1 <= effort <= 10:
            raise CodecError(f"JPEG XL effort must be in 1..10, got {effort}")
        self.effort = effort
        self.name = "jpegxl-lossless" + ("" if effort is None else f"-e{effort}")

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        if self.effort is not None:
            efforts: tuple[int, ...] = (self.effort,)
        else:
            efforts = (7, 10) if array.shape[0] * array.shape[1] <= SMALL_PIXELS else (7,)
        with codec_errors("JPEG XL encode failed"):
            outs = [
                bytes(imagecodecs.jpegxl_encode(array, lossless=True, effort=e))
                for e in efforts
            ]
        return min(outs, key=len)

    def decode(self, data: bytes) -> np.ndarray:
        return decode_jpegxl(data)


def decode_jpegxl(data: bytes) -> np.ndarray:
    """Decode a bare JPEG XL codestream (lossless or lossy) to uint8."""
    import imagecodecs

    return decode_checked(data, jxl_size, imagecodecs.jpegxl_decode, "JPEG XL")


class PngCodec(LayerCodec):
    """PNG, zlib level 9."""

    codec_id = CODEC_ID_PNG
    lossless = True
    name = "png"

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        with codec_errors("PNG encode failed"):
            return bytes(imagecodecs.png_encode(array, level=9))

    def decode(self, data: bytes) -> np.ndarray:
        return decode_png(data)


def decode_png(data: bytes) -> np.ndarray:
    import imagecodecs

    # libpng decodes a file cut after its IDAT silently: the IEND chunk must be there
    return decode_checked(data, png_size, imagecodecs.png_decode, "PNG",
                          end=(_PNG_IEND, "truncated PNG (no IEND chunk)"))


def encode_webp(array: np.ndarray, *, lossless: bool, level: int, method: int) -> bytes:
    """WebP, with the ``G`` prefix for HxW arrays (see the module docstring)."""
    import imagecodecs

    array = check_image(array)
    gray = array.ndim == 2
    rgb = np.repeat(array[:, :, None], 3, axis=2) if gray else array
    with codec_errors("WebP encode failed"):
        out = bytes(imagecodecs.webp_encode(rgb, level=level, lossless=lossless, method=method))
    return _GRAY_WEBP + out if gray else out


def decode_webp(data: bytes) -> np.ndarray:
    """Decode a ``webp`` layer (lossless or lossy)."""
    import imagecodecs

    data = as_bytes(data)
    gray = data[:1] == _GRAY_WEBP
    array = decode_checked(data[1:] if gray else data, webp_size,
                           lambda d: imagecodecs.webp_decode(d, hasalpha=False), "WebP")
    if array.ndim != 3:
        raise CodecError("WebP decode gave no colour channels")
    if gray:
        # exact for lossless (R = G = B); the rounded mean for lossy
        array = ((array.astype(np.uint16).sum(axis=2) + 1) // 3).astype(np.uint8)
    return array


class WebpLosslessCodec(LayerCodec):
    """WebP lossless, level 100; ``method=None`` picks 6 for small arrays, else 5."""

    codec_id = CODEC_ID_WEBP
    lossless = True

    def __init__(self, method: int | None = None) -> None:
        if method is not None and not 0 <= method <= 6:
            raise CodecError(f"WebP method must be in 0..6, got {method}")
        self.method = method
        self.name = "webp-lossless" + ("" if method is None else f"-m{method}")

    def encode(self, array: np.ndarray) -> bytes:
        array = check_image(array)
        method = self.method
        if method is None:
            method = 6 if array.shape[0] * array.shape[1] <= SMALL_PIXELS else 5
        return encode_webp(array, lossless=True, level=100, method=method)

    def decode(self, data: bytes) -> np.ndarray:
        return decode_webp(data)


class RawCodec(LayerCodec):
    """Uncompressed samples: ``channels (1 byte: 1 or 3), varint width, varint height``,
    then the uint8 samples row-major (interleaved RGB)."""

    codec_id = CODEC_ID_RAW
    lossless = True
    name = "raw"

    def encode(self, array: np.ndarray) -> bytes:
        array = check_image(array)
        channels = 1 if array.ndim == 2 else 3
        height, width = array.shape[:2]
        return bytes([channels]) + write_varint(width) + write_varint(height) + array.tobytes()

    def decode(self, data: bytes) -> np.ndarray:
        return decode_raw(data)


def decode_raw(data: bytes) -> np.ndarray:
    data = as_bytes(data)
    if not data or data[0] not in (1, 3):
        raise CodecError("corrupt raw layer header")
    channels = data[0]
    width, pos = read_varint(data, 1)
    height, pos = read_varint(data, pos)
    check_pixel_limit(height, width)
    if len(data) - pos != width * height * channels:
        raise CodecError("truncated or corrupt raw layer")
    array = np.frombuffer(data, dtype=np.uint8, offset=pos).copy()
    return array.reshape((height, width) if channels == 1 else (height, width, 3))


# --------------------------------------------------------------------------- selection


def default_lossless_candidates() -> tuple[LayerCodec, ...]:
    """JPEG XL, WebP, PNG and raw at their default (strongest reasonable) settings."""
    return (JxlLosslessCodec(), WebpLosslessCodec(), PngCodec(), RawCodec())


def encode_smallest_lossless(
    array: np.ndarray, candidates: Sequence[LayerCodec] | None = None
) -> tuple[int, bytes]:
    """Encode with every candidate and return ``(codec_id, bytes)`` of the smallest.

    Each result is decoded and compared with ``array`` first; a candidate that fails or
    does not reproduce the array exactly is skipped. Ties go to the earlier candidate.
    Raises :class:`CodecError` when no candidate works.
    """
    array = check_image(array)
    candidates = default_lossless_candidates() if candidates is None else candidates
    best: tuple[int, bytes] | None = None
    errors = []
    for codec in candidates:
        check_cancelled()  # a caller's stop request, between candidates (app.cancel)
        try:
            # a candidate can take seconds on a large array: stoppable while it runs
            data = interruptible(codec.encode, array)
            exact = _same_array(codec.decode(data), array)
        except CodecError as exc:
            errors.append(f"{codec.name}: {exc}")
            continue
        if not exact:
            errors.append(f"{codec.name}: not exact")
            continue
        if best is None or len(data) < len(best[1]):
            best = (codec.codec_id, data)
    if best is None:
        raise CodecError("no lossless codec could code the array: " + "; ".join(errors))
    return best
