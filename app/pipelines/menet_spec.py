"""The specs of :mod:`app.pipelines.menet` (``menet``, ``menet-noenh``).

Beside that module rather than in it because it imports torch, and listing pipelines
must not. MENet codes with the hyperprior's quality index
and its edge offsets (:data:`app.pipelines.endtoend_spec.CODEC_PARAMS`).
"""

from __future__ import annotations

from app.pipelines.endtoend_spec import CODEC_PARAMS, EDGE_LAYER
from app.pipelines.spec import PipelineSpec

#: MENet's two LATENT layers: the compression latent z_x (ŷ), then the semantic latent ẑ_s.
MENET_LAYERS: dict[str, tuple[str, ...]] = {"latent": ("image latent", "semantic latent"),
                                             **EDGE_LAYER}
#: how its paper writes its name, for the GUI's labels
MENET_NAMES = {"menet": "MENet"}
# v7 (both): the optional edge-offsets layer (``edges``, on by default); v6 files, which
# have none, decode unchanged
MENET = PipelineSpec(
    "menet", 7,
    "MENet: learned codec whose bitstream decodes to an image and a segmentation",
    CODEC_PARAMS, "MENet (Chen, Yao, Liu, Zhao, PRCV 2021), §3.1-3.3",
    "app.pipelines.menet:MenetPipeline", layer_names=MENET_LAYERS, display_names=MENET_NAMES,
    reads_versions=(6,))
MENET_NOENH = PipelineSpec(
    "menet-noenh", 7, "MENet decoded without its post-enhancement module (ablation)",
    CODEC_PARAMS, "MENet (Chen et al. 2021), §3.3 ablation",
    "app.pipelines.menet:MenetNoEnhancePipeline", layer_names=MENET_LAYERS,
    display_names=MENET_NAMES, reads_versions=(6,))
#: Entry point ``menet`` of ``edms_workbench.pipelines``.
SPECS = (MENET, MENET_NOENH)
