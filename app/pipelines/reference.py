"""The layered scheme of DSSLIC Algorithm 1 with no networks: ``layered-ref`` and
``layered-ref-lb``.

The reference every learned layered pipeline has to beat (development data README):
compact image = 8x8 box average of x (rounded to 8 bit), x' = its bicubic x8 upsampling
(Pillow, a = -0.5), residual coded by HEVC at the chosen QP. ``layered-ref`` keeps the
papers' layout (lossless base, halved 8-bit residual); ``layered-ref-lb`` is the same
with the lossy HEVC base layer at ``qp - base_dqp`` and the 10-bit residual of the
``-lb`` extensions. No torch: these run anywhere and decode bit-exactly by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from app.pipelines.base import View, ViewKind
from app.pipelines.layered import BASE_DQP_SPEC, QP_SPEC, LayeredPipeline
from app.pipelines.spec import PipelineSpec

ALPHA = 8

LAYERED_REF = PipelineSpec(
    "layered-ref", 2,
    "Layered scheme without networks (box down, bicubic up): the reference",
    (QP_SPEC,), "DSSLIC Algorithm 1 without networks (reference)",
    "app.pipelines.reference:LayeredReferencePipeline",
    reads_versions=(1,))
LAYERED_REF_LB = PipelineSpec(
    "layered-ref-lb", 2,
    "Layered reference with a lossy HEVC base layer (extension)",
    (QP_SPEC, BASE_DQP_SPEC), "extension",
    "app.pipelines.reference:LayeredReferenceLossyBasePipeline",
    reads_versions=(1,))
#: Entry point ``layered-ref`` of ``edms_workbench.pipelines`` (this module needs no torch).
SPECS = (LAYERED_REF, LAYERED_REF_LB)


def box_downsample(image: np.ndarray, alpha: int = ALPHA) -> np.ndarray:
    """Edge-pad to a multiple of ``alpha`` and average alpha x alpha blocks (uint8)."""
    h, w = image.shape[:2]
    ph, pw = -(-h // alpha) * alpha, -(-w // alpha) * alpha
    padded = np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    blocks = padded.reshape(ph // alpha, alpha, pw // alpha, alpha, 3).astype(np.float64)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def bicubic_upsample(c8: np.ndarray, alpha: int = ALPHA) -> np.ndarray:
    """Pillow's bicubic x alpha (integer arithmetic, so identical on every machine)."""
    h, w = c8.shape[:2]
    return np.asarray(Image.fromarray(c8).resize((w * alpha, h * alpha), Image.Resampling.BICUBIC))


class LayeredReferencePipeline(LayeredPipeline):
    spec = LAYERED_REF

    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        self.report("compact image")
        return {"c8": box_downsample(image)}

    def predict(self, c8: np.ndarray, side: dict[str, Any], height: int, width: int
                ) -> tuple[np.ndarray, dict[str, View]]:
        self.report("upsampling")
        up = np.ascontiguousarray(bicubic_upsample(c8)[:height, :width])
        return up, {"upsampled": View(ViewKind.IMAGE, up)}


class LayeredReferenceLossyBasePipeline(LayeredReferencePipeline):
    spec = LAYERED_REF_LB
    lossy_base = True
    residual_10bit = True
