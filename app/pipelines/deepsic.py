"""DeepSIC as ``deepsic-pre`` and ``deepsic-post`` (Luo, Yang, Song; Fig. 2), on a learned
transform coder (:mod:`app.nets.deepsic_transform`).

Bitstream (one ``.edms`` file): the end-to-end codec's (:mod:`app.pipelines.endtoend`: the
hyper-latent ẑ as SIDE_INFO, the latent ŷ as one LATENT layer, rANS), preceded for
``deepsic-pre`` by a SIDE_INFO layer with the top-5 classes and their quantised
probabilities (:mod:`app.pipelines.classlayer`, codec id 10), computed by the pre head on
the float latent y = f(x) in the encoder (§III-D, Fig. 2a), readable without decoding.
``deepsic-post`` carries only the codec's layers; its decoder runs the post head on the
decoded latent ŷ·g'_q, the features g reconstructs from (Fig. 2b), with the head's batch
normalisation of that quality. Both decoders return the image and the top-5 classes (the
``classes`` and ``class_probabilities`` views) and the bits map.

The codec part is the shipped hyperprior's, frozen: at the same quality the image and its
bits are the ``hyperprior`` pipeline's, and ``deepsic-pre`` adds the 18-byte class layer.

Bit-exactness: the encoder's post classes come from the integer latent by the decoder's
own path (float32 on the CPU with fixed threads), as its reconstruction does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from app.errors import PipelineError
from app.pipelines import classlayer
from app.pipelines.base import Layer, LayerKind, View
from app.pipelines.deepsic_bitplane import weights_for
from app.pipelines.deepsic_spec import DEEPSIC_POST, DEEPSIC_PRE
from app.pipelines.endtoend import EndToEndPipeline, Prepared
from app.pipelines.netrun import fixed_threads


@dataclass
class DeepsicPrepared(Prepared):
    """The end-to-end encoder's prepared latent and, for ``pre``, the head's softmax."""

    probabilities: np.ndarray | None = None


class DeepsicPipeline(EndToEndPipeline):
    """Shared by ``deepsic-pre`` and ``deepsic-post``; subclasses set ``variant``."""

    variant: ClassVar[str]

    def __init__(self, model: torch.nn.Module | None = None, fingerprint: bytes = b"",
                 config: str = "lite") -> None:
        if model is None:
            from app.nets import zoo

            name = weights_for(self.variant, config, "deepsic")
            model, _ = zoo.load_model(name, config)
            fingerprint = zoo.fingerprint(name, config)
        net: Any = model
        if self.variant not in getattr(net, "heads", ()):
            raise PipelineError(f"{self.name}: the network has no {self.variant} head")
        super().__init__(model, fingerprint, config)

    def prepare(self, image: np.ndarray) -> DeepsicPrepared:
        p = super().prepare(image)
        probs = None
        if self.variant == "pre":
            self.report("semantic analysis")
            with fixed_threads(), torch.no_grad():
                probs = self.model.classify("pre", p.latent)[0].double().numpy()
        return DeepsicPrepared(p.image, p.latent, probs)

    def leading_layers(self, prepared: Prepared) -> tuple[list[Layer], dict[str, View]]:
        if self.variant != "pre":
            return [], {}
        probs = getattr(prepared, "probabilities", None)
        if probs is None:
            raise PipelineError(f"{self.name}: prepared without the semantic analysis")
        layer = classlayer.layer(probs)
        return [layer], classlayer.views(classlayer.unpack(layer.data))

    def read_leading(self, layers: list[Layer]) -> dict[str, View]:
        return classlayer.views(classlayer.unpack(layers[0].data)) if layers else {}

    def synthesise(self, lat: torch.Tensor, h: int, w: int,
                   views: dict[str, View] | None, quality: torch.Tensor | None = None
                   ) -> np.ndarray:
        image = super().synthesise(lat, h, w, views, quality)
        if self.variant == "post" and views is not None:
            if quality is None:
                raise PipelineError(f"{self.name}: the post head needs the quality")
            with torch.no_grad():
                probs = self.model.classify("post", lat, quality)[0].double().numpy()
            views.update(classlayer.views(classlayer.unpack(classlayer.pack(probs))))
        return image


class DeepsicPrePipeline(DeepsicPipeline):
    spec = DEEPSIC_PRE
    variant = "pre"
    weights = "deepsic"
    leading_kinds = ((LayerKind.SIDE_INFO, classlayer.CODEC_ID_CLASSES),)


class DeepsicPostPipeline(DeepsicPipeline):
    spec = DEEPSIC_POST
    variant = "post"
    weights = "deepsic"
