"""Registers the built-in pipelines (imported once by the registry)."""

from __future__ import annotations

from functools import partial

from app.codecs import BASELINE_KNOBS, BASELINE_LABELS, baseline_codec
from app.pipelines.base import ParamSpec
from app.pipelines.classical import ClassicalPipeline
from app.pipelines.registry import register

# pipeline name -> (baseline codec name, description)
_CLASSICAL = {
    "hevc": (
        "hevc444",
        "HEVC intra (x265), 4:4:4 (RGB to YCbCr BT.601 full range), fixed QP — BPG's successor",
    ),
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


def _learned(cls_path: str):  # noqa: ANN202 - returns a factory
    """A factory that imports the pipeline class (and torch) only when first used."""

    def pipeline_class():  # noqa: ANN202
        import importlib

        module, cls = cls_path.rsplit(".", 1)
        return getattr(importlib.import_module(module), cls)

    def factory():  # noqa: ANN202
        return pipeline_class()()

    factory.pipeline_class = pipeline_class  # type: ignore[attr-defined]
    return factory


_LEARNED = {
    "dsslic": ("app.pipelines.dsslic.DsslicPipeline",
               "DSSLIC: segmentation + lossless compact image + HEVC residual"),
    "dsslic-lb": ("app.pipelines.dsslic.DsslicLossyBasePipeline",
                  "DSSLIC with a lossy HEVC base layer (extension)"),
    "edms": ("app.pipelines.edms.EdmsPipeline",
             "EDMS: compact image + HEVC residual, segmentation recomputed + SMapNet"),
    "edms-noenh": ("app.pipelines.edms.EdmsNoEnhancePipeline",
                   "EDMS without semantic enhancement (no SMapNet)"),
    "edms-lb": ("app.pipelines.edms.EdmsLossyBasePipeline",
                "EDMS with a lossy HEVC base layer (extension)"),
    "edms-pf": ("app.pipelines.edms.EdmsPostFilterPipeline",
                "EDMS (paper layout) + PostNet post-filter, strength per block (extension)"),
    "edms-lb-pf": ("app.pipelines.edms.EdmsLossyBasePostFilterPipeline",
                   "EDMS, lossy HEVC base + PostNet post-filter, strength per block (extension)"),
    "layered-ref": ("app.pipelines.reference.LayeredReferencePipeline",
                    "Layered scheme without networks (box down, bicubic up): the reference"),
    "layered-ref-lb": ("app.pipelines.reference.LayeredReferenceLossyBasePipeline",
                       "Layered reference with a lossy HEVC base layer (extension)"),
    "smic": ("app.pipelines.smic.SmicPipeline",
             "SMIC: SS-Net semantic map + down-sampled HEVC image, Rec-Net reconstruction"),
    "deepsic-pre": ("app.pipelines.deepsic.DeepsicPrePipeline",
                    "DeepSIC pre-semantic: learned codec + top-5 classes stored in the file"),
    "deepsic-post": ("app.pipelines.deepsic.DeepsicPostPipeline",
                     "DeepSIC post-semantic: the decoder classifies the decoded features"),
}
for _name, (_path, _desc) in _LEARNED.items():
    register(_name, _learned(_path), _desc)
