"""Classical codecs registered as pipelines (the RD baselines).

Each one codes the whole image as a single :attr:`LayerKind.IMAGE` layer with the
codec's native quality knob (QP for HEVC). They let the container, the CLI, ``eval``
and the GUI work end to end and are the anchors the learned pipelines are compared with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from app.codecs import decode_layer
from app.codecs.base import LayerCodec
from app.errors import PipelineError
from app.pipelines.base import Encoded, Layer, LayerKind, ParamSpec, Pipeline


class ClassicalPipeline(Pipeline):
    """One classical codec as a pipeline: image -> one IMAGE layer -> image."""

    def __init__(
        self,
        name: str,
        description: str,
        param: ParamSpec,
        make_codec: Callable[[int], LayerCodec],
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.description = description  # type: ignore[misc]
        self.params = (param,)  # type: ignore[misc]
        self._make_codec = make_codec

    def encode_prepared(self, prepared: Any, params: dict[str, int]) -> Encoded:
        image = np.ascontiguousarray(prepared)
        knob = params[self.params[0].name]
        codec = self._make_codec(knob)
        data = codec.encode(image)
        # The encoder decodes its own layer: the reconstruction is exactly what any
        # decoder of the same bytes rebuilds.
        recon = codec.decode(data)
        h, w = image.shape[:2]
        return Encoded(
            pipeline=self.name,
            pipeline_version=self.version,
            model_fingerprint=b"",
            width=w,
            height=h,
            params=dict(params),
            layers=[Layer(LayerKind.IMAGE, codec.codec_id, data)],
            reconstruction=recon,
        )

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
