"""Classical lossy baselines, each driven by its native integer quality knob.

The papers compare against JPEG, JPEG 2000, WebP, BPG (HEVC intra) and, in later work,
AVIF / JPEG XL. Every codec here takes one integer (the ``.edms`` container stores
integer parameters only):

=========  =====================================================  ================
name       knob                                                   direction
=========  =====================================================  ================
jpeg       libjpeg-turbo quality 1..100, 4:2:0, optimised Huffman  higher = better
jpeg2000   OpenJPEG target PSNR in dB (``tcp_distoratio``),        higher = better
           irreversible 9/7 wavelet, up to 6 resolution levels,
           one quality layer, bare J2K codestream
webp       libwebp quality 0..100, method 6                       higher = better
avif       libavif quality 0..100, 4:4:4, speed 4, tune=psnr       higher = better
jpegxl     quality 1..99 mapped to a Butteraugli distance as       higher = better
           libjxl's ``JxlEncoderDistanceFromQuality`` (cjxl -q),
           effort 7
hevc444    x265 QP 0..51, 4:4:4 (see :mod:`app.codecs.hevc`)       lower = better
hevc420    x265 QP 0..51, 4:2:0                                    lower = better
=========  =====================================================  ================

:data:`BASELINE_KNOBS` gives each one ``(min, max, default, sweep, higher_is_better)``.
The sweeps were chosen with ``benchmarks/baseline_sweeps.py`` to span roughly 0.05-2 bpp;
their mean bpp over the 24 Kodak images (measured once, to document the range):

=========  ==========================  =================
name       sweep end points            Kodak mean bpp
=========  ==========================  =================
jpeg       q 2 .. 90                   0.088 .. 2.32
jpeg2000   22 .. 42 dB                 0.037 .. 2.19
webp       q 0 .. 90                   0.103 .. 1.93
avif       q 0 .. 75                   0.040 .. 1.64
jpegxl     q 5 .. 93                   0.143 .. 2.36
hevc444    QP 47 .. 22                 0.078 .. 2.04
hevc420    QP 47 .. 22                 ~0.08 .. 1.85
=========  ==========================  =================

JPEG, WebP and JPEG XL cannot go much lower: their lowest settings are above 0.05 bpp.
"""

from __future__ import annotations

import io
import math
from typing import Any, NamedTuple

import numpy as np

from app.codecs.base import (
    LayerCodec,
    check_image,
    codec_errors,
    decode_checked,
)
from app.codecs.hevc import HevcCodec
from app.codecs.isobmff import ispe_size
from app.codecs.lossless import (
    CODEC_ID_JPEGXL,
    CODEC_ID_WEBP,
    decode_jpegxl,
    decode_webp,
    encode_webp,
)
from app.errors import CodecError

CODEC_ID_JPEG = 6
CODEC_ID_JPEG2000 = 7
CODEC_ID_AVIF = 8


class Knob(NamedTuple):
    """A baseline's integer rate knob."""

    minimum: int
    maximum: int
    default: int
    sweep: tuple[int, ...]
    higher_is_better: bool


BASELINE_KNOBS: dict[str, Knob] = {
    "jpeg": Knob(1, 100, 75, (2, 5, 10, 20, 35, 50, 70, 85, 90), True),
    "jpeg2000": Knob(15, 60, 32, (22, 25, 28, 31, 34, 37, 40, 42), True),
    "webp": Knob(0, 100, 75, (0, 5, 15, 30, 50, 70, 80, 85, 90), True),
    "avif": Knob(0, 100, 50, (0, 5, 10, 15, 20, 30, 40, 50, 60, 70, 75), True),
    "jpegxl": Knob(1, 99, 75, (5, 15, 25, 40, 55, 70, 80, 86, 90, 93), True),
    "hevc444": Knob(0, 51, 32, (22, 27, 32, 37, 42, 47), False),
    "hevc420": Knob(0, 51, 32, (22, 27, 32, 37, 42, 47), False),
}
"""``name -> (min, max, default, sweep, higher_is_better)``."""

BASELINE_LABELS: dict[str, tuple[str, str]] = {
    "jpeg": ("q", "JPEG quality"),
    "jpeg2000": ("psnr", "JPEG 2000 target PSNR (dB)"),
    "webp": ("q", "WebP quality"),
    "avif": ("q", "AVIF quality"),
    "jpegxl": ("q", "JPEG XL quality"),
    "hevc444": ("qp", "QP"),
    "hevc420": ("qp", "QP"),
}
"""``name -> (container parameter key, label for people)``."""


def _check_knob(name: str, value: int) -> int:
    knob = BASELINE_KNOBS[name]
    if isinstance(value, bool) or int(value) != value:
        raise CodecError(f"{name} knob must be an integer, got {value!r}")
    if not knob.minimum <= int(value) <= knob.maximum:
        raise CodecError(f"{name} knob must be in {knob.minimum}..{knob.maximum}, got {value}")
    return int(value)


# --------------------------------------------------------------------------- JPEG


def jpeg_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the first SOFn marker of a JPEG (ITU-T T.81 B.2.2)."""
    if data[:2] != b"\xff\xd8":
        raise CodecError("not a JPEG file")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CodecError("corrupt JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                break
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            return width, height
        if marker == 0xDA or length < 2:
            break
        pos += 2 + length
    raise CodecError("truncated JPEG (no frame header)")


class JpegCodec(LayerCodec):
    """Baseline JPEG (libjpeg-turbo via imagecodecs), 4:2:0 by default."""

    codec_id = CODEC_ID_JPEG
    lossless = False

    def __init__(self, quality: int, subsampling: str = "420") -> None:
        self.quality = _check_knob("jpeg", quality)
        if subsampling not in ("444", "422", "420"):
            raise CodecError(f"JPEG subsampling must be 444, 422 or 420, got {subsampling}")
        self.subsampling = subsampling
        self.name = f"jpeg{subsampling}-q{self.quality}"

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        kwargs: dict[str, Any] = {} if array.ndim == 2 else {"subsampling": self.subsampling}
        with codec_errors("JPEG encode failed"):
            return bytes(
                imagecodecs.jpeg8_encode(array, level=self.quality, optimize=True, **kwargs)
            )

    def decode(self, data: bytes) -> np.ndarray:
        return decode_jpeg(data)


def decode_jpeg(data: bytes) -> np.ndarray:
    import imagecodecs

    # libjpeg pads a truncated scan silently: the EOI marker must be there
    return decode_checked(data, jpeg_size, imagecodecs.jpeg8_decode, "JPEG",
                          end=(b"\xff\xd9", "truncated JPEG (no EOI marker)"))


# --------------------------------------------------------------------------- JPEG 2000


def j2k_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from the SIZ marker of a J2K codestream (ITU-T T.800 A.5.1)."""
    if len(data) < 24 or data[:4] != b"\xff\x4f\xff\x51":
        raise CodecError("not a JPEG 2000 codestream")
    xsiz, ysiz, x0, y0 = (int.from_bytes(data[i : i + 4], "big") for i in (8, 12, 16, 20))
    return xsiz - x0, ysiz - y0


class Jpeg2000Codec(LayerCodec):
    """JPEG 2000 (OpenJPEG) at a target PSNR in dB: a fixed-quality rate allocation.

    A PSNR target is OpenJPEG's quality-style knob (``imagecodecs.jpeg2k_encode(level=)``);
    it spans low to high rates evenly (22 dB ~ 0.04 bpp, 42 dB ~ 2.2 bpp on Kodak),
    unlike a compression ratio whose useful range depends on the image.
    """

    codec_id = CODEC_ID_JPEG2000
    lossless = False

    def __init__(self, psnr_db: int) -> None:
        self.psnr_db = _check_knob("jpeg2000", psnr_db)
        self.name = f"jpeg2000-psnr{self.psnr_db}"

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        # as many wavelet levels as the size allows, at most OpenJPEG's default of 6
        resolutions = max(1, min(6, int(math.log2(min(array.shape[:2]))) + 1))
        with codec_errors("JPEG 2000 encode failed"):
            return bytes(
                imagecodecs.jpeg2k_encode(
                    array,
                    level=self.psnr_db,
                    codecformat="J2K",
                    reversible=False,
                    resolutions=resolutions,
                )
            )

    def decode(self, data: bytes) -> np.ndarray:
        return decode_jpeg2000(data)


def decode_jpeg2000(data: bytes) -> np.ndarray:
    import imagecodecs

    return decode_checked(data, j2k_size, imagecodecs.jpeg2k_decode, "JPEG 2000")


# --------------------------------------------------------------------------- WebP


class WebpCodec(LayerCodec):
    """Lossy WebP (VP8 intra), method 6; HxW arrays are coded as R=G=B."""

    codec_id = CODEC_ID_WEBP  # same format as WebP lossless
    lossless = False

    def __init__(self, quality: int) -> None:
        self.quality = _check_knob("webp", quality)
        self.name = f"webp-q{self.quality}"

    def encode(self, array: np.ndarray) -> bytes:
        return encode_webp(array, lossless=False, level=self.quality, method=6)

    def decode(self, data: bytes) -> np.ndarray:
        return decode_webp(data)


# --------------------------------------------------------------------------- AVIF


class AvifCodec(LayerCodec):
    """AVIF (libavif + libaom) at a libavif quality 0..100, YUV 4:4:4, speed 4, tuned for
    PSNR.

    libaom's still-image defaults in libavif (all-intra usage with perceptual delta-q and
    SSIM-oriented choices) cost 7 % BD-rate in PSNR-RGB on Kodak, and speed 6 another 7 %
    against speed 4 (docs/codecs.md, "Calibration"). ``tune="visual"`` keeps libaom's
    defaults. Colour images are written by Pillow's AVIF plug-in, because it is the one
    binding here that passes libaom's options (``advanced``); imagecodecs' encoder takes no
    codec options. Grey images (4:0:0) still go through imagecodecs. Every AVIF file
    decodes with :func:`decode_avif`.
    """

    codec_id = CODEC_ID_AVIF
    lossless = False

    def __init__(self, quality: int, speed: int = 4, tune: str = "psnr") -> None:
        if tune not in ("psnr", "visual"):
            raise CodecError(f"AVIF tune must be psnr or visual, got {tune!r}")
        self.quality = _check_knob("avif", quality)
        self.speed = speed
        self.tune = tune
        self.name = f"avif-q{self.quality}" + ("" if tune == "psnr" else f"-{tune}")

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        if array.ndim == 2:
            fmt = imagecodecs.AVIF.PIXEL_FORMAT
            with codec_errors("AVIF encode failed"):
                return bytes(imagecodecs.avif_encode(array, level=self.quality,
                                                     speed=self.speed,
                                                     pixelformat=fmt.YUV400))
        from PIL import Image

        options: dict[str, Any] = {"quality": self.quality, "speed": self.speed,
                                   "subsampling": "4:4:4"}
        if self.tune == "psnr":
            options["advanced"] = [("tune", "psnr")]
        out = io.BytesIO()
        with codec_errors("AVIF encode failed"):
            Image.fromarray(np.ascontiguousarray(array)).save(out, format="AVIF", **options)
        return out.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        return decode_avif(data)


def decode_avif(data: bytes) -> np.ndarray:
    import imagecodecs

    return decode_checked(data, ispe_size, imagecodecs.avif_decode, "AVIF")


# --------------------------------------------------------------------------- JPEG XL


def jxl_distance(quality: int) -> float:
    """libjxl's ``JxlEncoderDistanceFromQuality`` (the mapping of ``cjxl -q``)."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


class JxlCodec(LayerCodec):
    """Lossy JPEG XL (VarDCT) at ``cjxl -q quality``, effort 7."""

    codec_id = CODEC_ID_JPEGXL  # same format as JPEG XL lossless
    lossless = False

    def __init__(self, quality: int, effort: int = 7) -> None:
        self.quality = _check_knob("jpegxl", quality)
        self.effort = effort
        self.name = f"jpegxl-q{self.quality}"

    def encode(self, array: np.ndarray) -> bytes:
        import imagecodecs

        array = check_image(array)
        with codec_errors("JPEG XL encode failed"):
            return bytes(
                imagecodecs.jpegxl_encode(
                    array, distance=jxl_distance(self.quality), effort=self.effort
                )
            )

    def decode(self, data: bytes) -> np.ndarray:
        return decode_jpegxl(data)


# --------------------------------------------------------------------------- factory


def baseline_codec(name: str, knob: int, tune: str = "psnr") -> LayerCodec:
    """The lossy baseline ``name`` (a key of :data:`BASELINE_KNOBS`) at ``knob``; ``tune``
    applies to HEVC only (:data:`app.codecs.hevc.TUNINGS`)."""
    if name not in BASELINE_KNOBS:
        raise CodecError(f"unknown baseline {name!r}; known: {', '.join(BASELINE_KNOBS)}")
    if name == "jpeg":
        return JpegCodec(knob)
    if name == "jpeg2000":
        return Jpeg2000Codec(knob)
    if name == "webp":
        return WebpCodec(knob)
    if name == "avif":
        return AvifCodec(knob, tune=tune)
    if name == "jpegxl":
        return JxlCodec(knob)
    return HevcCodec(_check_knob(name, knob), chroma=444 if name == "hevc444" else 420,
                     tune=tune)
