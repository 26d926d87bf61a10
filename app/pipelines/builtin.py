"""Registers the built-in pipelines (imported once by the registry)."""

from __future__ import annotations

from functools import partial

from app.codecs import BASELINE_KNOBS, BASELINE_LABELS, baseline_codec
from app.pipelines.base import ParamSpec
from app.pipelines.classical import ClassicalPipeline
from app.pipelines.registry import register

# pipeline name -> (baseline codec name, description)
_CLASSICAL = {
    "hevc": ("hevc444", "HEVC intra (x265), RGB 4:4:4, fixed QP — BPG's successor"),
    "hevc-420": ("hevc420", "HEVC intra (x265), YCbCr 4:2:0, fixed QP"),
    "jpeg": ("jpeg", "JPEG (libjpeg), 4:2:0, quality 1-100"),
    "jpeg2000": ("jpeg2000", "JPEG 2000 (OpenJPEG), target PSNR in dB"),
    "webp": ("webp", "WebP lossy (libwebp), quality 0-100"),
    "avif": ("avif", "AVIF (libavif/AV1), quality 0-100"),
    "jpegxl": ("jpegxl", "JPEG XL lossy (libjxl), quality 1-99"),
}


def _classical(name: str) -> ClassicalPipeline:
    codec_name, description = _CLASSICAL[name]
    knob = BASELINE_KNOBS[codec_name]
    key, label = BASELINE_LABELS[codec_name]
    spec = ParamSpec(key, label, knob.minimum, knob.maximum, knob.default, knob.sweep,
                     knob.higher_is_better)
    return ClassicalPipeline(name, description, spec, partial(baseline_codec, codec_name))


for _name, (_codec, _desc) in _CLASSICAL.items():
    register(_name, partial(_classical, _name), _desc)
