"""Classical layer codecs: arrays <-> self-contained bytes.

Each layer of an ``.edms`` file stores a one-byte codec id that names the *bitstream
format* of its bytes; :func:`decode_layer` needs nothing else. Lossless and lossy
encoders of one format share the id (decoding is the same). The ids are part of the file
format: never renumber or reuse one; a changed layer format gets a new id.

== =========  ===========================================================================
id name       layer bytes
== =========  ===========================================================================
0  (reserved)  never written (catches zeroed headers)
1  raw        channels byte, varint width, varint height, uint8 samples (:mod:`.lossless`)
2  hevc       HEVC intra (x265), stripped HEIF: varint width/height + NAL units
              (:mod:`.hevc`); 4:0:0/4:2:0/4:2:2/4:4:4, 8 or 10 bits
3  jpegxl     bare JPEG XL codestream, lossless or lossy
4  png        PNG file
5  webp       WebP RIFF file, lossless or lossy; prefixed by ``G`` for HxW arrays
6  jpeg       JPEG (JFIF) file
7  jpeg2000   bare JPEG 2000 codestream (J2K)
8  avif       AVIF file
9  rans       latents entropy-coded by :mod:`app.entropy.coder` (not an image codec)
10 classes    a pipeline's class layer (allotted before the range below existed)
11 bitplanes  a pipeline's context-coded bit planes (:mod:`app.entropy.binary`; ditto)
== =========  ===========================================================================

Ids 128-254 are no codec's here: a pipeline declares its own in its spec
(:data:`app.pipelines.spec.OWN_IDS`, ``PipelineSpec.codec_ids``), meaningful only in its
own files, so a plug-in adds a layer format without editing this table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.codecs.base import MAX_PIXELS, LayerCodec
from app.codecs.baselines import (
    BASELINE_KNOBS,
    BASELINE_LABELS,
    CODEC_ID_AVIF,
    CODEC_ID_JPEG,
    CODEC_ID_JPEG2000,
    AvifCodec,
    Jpeg2000Codec,
    JpegCodec,
    JxlCodec,
    Knob,
    WebpCodec,
    baseline_codec,
    decode_avif,
    decode_jpeg,
    decode_jpeg2000,
)
from app.codecs.hevc import CODEC_ID_HEVC, HevcCodec, decode_hevc_layer
from app.codecs.lossless import (
    CODEC_ID_JPEGXL,
    CODEC_ID_PNG,
    CODEC_ID_RAW,
    CODEC_ID_WEBP,
    JxlLosslessCodec,
    PngCodec,
    RawCodec,
    WebpLosslessCodec,
    decode_jpegxl,
    decode_png,
    decode_raw,
    decode_webp,
    default_lossless_candidates,
    encode_smallest_lossless,
)
from app.errors import CodecError

CODEC_ID_NONE = 0
CODEC_ID_RANS = 9

CODEC_IDS: dict[int, str] = {
    CODEC_ID_RAW: "raw",
    CODEC_ID_HEVC: "hevc",
    CODEC_ID_JPEGXL: "jpegxl",
    CODEC_ID_PNG: "png",
    CODEC_ID_WEBP: "webp",
    CODEC_ID_JPEG: "jpeg",
    CODEC_ID_JPEG2000: "jpeg2000",
    CODEC_ID_AVIF: "avif",
    # not image codecs (no entry in _DECODERS): named here so every id has one name
    CODEC_ID_NONE: "none",  # the CHECK layer's hash
    CODEC_ID_RANS: "rans",  # latents entropy-coded by app.entropy.coder (constriction)
    # allotted to a pipeline, which defines and decodes them (never reuse these ids)
    10: "classes",
    11: "bitplanes-ctx",
}
"""Stable one-byte codec ids of ``.edms`` layers (see the module docstring)."""

_DECODERS: dict[int, Callable[[bytes], np.ndarray]] = {
    CODEC_ID_RAW: decode_raw,
    CODEC_ID_HEVC: decode_hevc_layer,
    CODEC_ID_JPEGXL: decode_jpegxl,
    CODEC_ID_PNG: decode_png,
    CODEC_ID_WEBP: decode_webp,
    CODEC_ID_JPEG: decode_jpeg,
    CODEC_ID_JPEG2000: decode_jpeg2000,
    CODEC_ID_AVIF: decode_avif,
}


def codec_name(codec_id: int) -> str:
    """Name of a codec id; raises :class:`CodecError` for an unknown id."""
    try:
        return CODEC_IDS[codec_id]
    except (KeyError, TypeError):
        raise CodecError(f"unknown layer codec id {codec_id!r}") from None


def decode_layer(codec_id: int, data: bytes) -> np.ndarray:
    """Decode one layer's bytes; raises :class:`CodecError` on an unknown id or bad data."""
    name = codec_name(codec_id)
    if codec_id not in _DECODERS:
        raise CodecError(f"layer codec id {codec_id} ({name}) is not an image codec")
    return _DECODERS[codec_id](data)


# --------------------------------------------------------------------------- factories


def hevc(qp: int, chroma: int = 444, bit_depth: int = 8, tune: str = "psnr") -> HevcCodec:
    """HEVC intra at QP ``qp`` (x265), ``chroma`` 444/422/420, 8 or 10 bits, PSNR-tuned
    unless ``tune="visual"`` (:data:`app.codecs.hevc.TUNINGS`)."""
    return HevcCodec(qp, chroma=chroma, bit_depth=bit_depth, tune=tune)


def jpegxl_lossless(effort: int | None = None) -> JxlLosslessCodec:
    """JPEG XL lossless (``effort=None``: the size-dependent default)."""
    return JxlLosslessCodec(effort)


def png() -> PngCodec:
    """PNG, zlib level 9."""
    return PngCodec()


def webp_lossless(method: int | None = None) -> WebpLosslessCodec:
    """WebP lossless, level 100 (``method=None``: the size-dependent default)."""
    return WebpLosslessCodec(method)


def raw() -> RawCodec:
    """Uncompressed samples with a 3-5 byte header."""
    return RawCodec()


__all__ = [
    "BASELINE_KNOBS",
    "BASELINE_LABELS",
    "CODEC_IDS",
    "MAX_PIXELS",
    "AvifCodec",
    "CodecError",
    "HevcCodec",
    "Jpeg2000Codec",
    "JpegCodec",
    "JxlCodec",
    "JxlLosslessCodec",
    "Knob",
    "LayerCodec",
    "PngCodec",
    "RawCodec",
    "WebpCodec",
    "WebpLosslessCodec",
    "baseline_codec",
    "codec_name",
    "decode_layer",
    "default_lossless_candidates",
    "encode_smallest_lossless",
    "hevc",
    "jpegxl_lossless",
    "png",
    "raw",
    "webp_lossless",
]
