"""Classical codecs registered as pipelines (the RD baselines).

Each one codes the whole image as a single :attr:`LayerKind.IMAGE` layer with the
codec's native quality knob (QP for HEVC). They let the container, the CLI, ``eval``
and the GUI work end to end and are the anchors the learned pipelines are compared with.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import numpy as np

from app.codecs import BASELINE_KNOBS, BASELINE_LABELS, baseline_codec, decode_layer
from app.codecs.hevc import TUNINGS
from app.errors import PipelineError
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline
from app.pipelines.spec import ParamSpec, PipelineSpec

#: The encoder's tuning of HEVC and AVIF (:data:`app.codecs.hevc.TUNINGS`), not a rate
#: knob: ``psnr`` (default; BPG's and the published anchors' criterion) or ``visual``
#: (x265's psycho-visual defaults, libaom's perceptual ones), for comparisons on
#: perceptual metrics.
TUNE_SPEC = ParamSpec("tune", "encoder tuning", 0, len(TUNINGS) - 1, 0, (0,), False,
                      choices=tuple(TUNINGS), rate=False)


def _spec(name: str, codec: str, description: str, version: int = 1,
          extra: tuple[ParamSpec, ...] = (), reads: tuple[int, ...] = ()) -> PipelineSpec:
    """The spec of baseline ``codec`` (see :data:`app.codecs.BASELINE_KNOBS`) as ``name``."""
    knob = BASELINE_KNOBS[codec]
    key, label = BASELINE_LABELS[codec]
    param = ParamSpec(key, label, knob.minimum, knob.maximum, knob.default, knob.sweep,
                      knob.higher_is_better)
    return PipelineSpec(name, version, description, (param, *extra), "baseline",
                        "app.pipelines.classical:ClassicalPipeline", {"codec": codec},
                        reads_versions=reads)



#: The classical baselines (entry point ``classical`` of ``edms_workbench.pipelines``).
SPECS = (
    # v2: PSNR-tuned by default (x265's psy-rd and psy-rdoq off); v1 files decode the same
    dataclasses.replace(_spec(
        "hevc", "hevc444",
        "HEVC intra (x265), 4:4:4 (RGB to YCbCr BT.601 full range), fixed QP, PSNR-tuned "
        "as BPG — BPG's successor", 2, (TUNE_SPEC,), (1,)),
        anchor=True, display_names={"hevc": "HEVC"}),
    _spec("hevc-420", "hevc420", "HEVC intra (x265), YCbCr 4:2:0, fixed QP, PSNR-tuned",
          2, (TUNE_SPEC,), (1,)),
    _spec("jpeg", "jpeg", "JPEG (libjpeg), 4:2:0, quality 1-100"),
    _spec("jpeg2000", "jpeg2000", "JPEG 2000 (OpenJPEG), target PSNR in dB"),
    _spec("webp", "webp", "WebP lossy (libwebp), quality 0-100"),
    # v2: speed 4 and libaom tuned for PSNR by default; v1 files decode the same
    _spec("avif", "avif", "AVIF (libavif/AV1), 4:4:4, quality 0-100, PSNR-tuned", 2,
          (TUNE_SPEC,), (1,)),
    _spec("jpegxl", "jpegxl", "JPEG XL lossy (libjxl), quality 1-99"),
)


class ClassicalPipeline(Pipeline):
    """One classical codec as a pipeline: image -> one IMAGE layer -> image.

    One class serves every baseline, so the instance (not the class) carries the spec."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec  # type: ignore[misc]
        self.name = spec.name  # type: ignore[misc]
        self.version = spec.version  # type: ignore[misc]
        self.description = spec.description  # type: ignore[misc]
        self.params = spec.params  # type: ignore[misc]
        self._make_codec = partial(baseline_codec, spec.options["codec"])

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> ClassicalPipeline:
        return cls(spec)

    def encode_prepared(self, prepared: Any, params: dict[str, int]) -> Encoded:
        image = np.ascontiguousarray(prepared)
        knob = params[self.params[0].name]
        codec = (self._make_codec(knob, tune=TUNE_SPEC.format(params["tune"]))
                 if "tune" in params else self._make_codec(knob))
        data = codec.encode(image)
        # The encoder decodes its own layer: the reconstruction is exactly what any
        # decoder of the same bytes rebuilds.
        recon = codec.decode(data)
        h, w = image.shape[:2]
        return self.encoded(h, w, params,
                            [Layer(LayerKind.IMAGE, codec.codec_id, data)], recon)

    def decode(self, encoded: Encoded) -> np.ndarray:
        layers = [layer for layer in encoded.layers if layer.kind == LayerKind.IMAGE]
        if len(layers) != 1 or len(encoded.layers) != 1:
            raise PipelineError(
                f"{self.name}: expected exactly one image layer, found "
                f"{[LayerKind(lay.kind).name.lower() for lay in encoded.layers]}"
            )
        image = decode_layer(layers[0].codec_id, layers[0].data)
        expected = (encoded.height, encoded.width, 3)
        if image.shape != expected:
            raise PipelineError(
                f"{self.name}: image layer decodes to {image.shape}, header says {expected}"
            )
        return image
