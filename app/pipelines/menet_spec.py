"""The specs of :mod:`app.pipelines.menet` (``menet``, ``menet-noenh``).

Beside that module rather than in it because it imports torch, and listing pipelines
must not. MENet codes with the hyperprior's quality index
(:data:`app.pipelines.endtoend_spec.QUALITY_SPEC`).
"""

from __future__ import annotations

from app.pipelines.endtoend_spec import QUALITY_SPEC
from app.pipelines.spec import PipelineSpec

#: MENet's two LATENT layers: the compression latent z_x (ŷ), then the semantic latent ẑ_s.
MENET_LAYERS: dict[str, tuple[str, ...]] = {"latent": ("image latent", "semantic latent")}
#: how its paper writes its name, for the GUI's labels
MENET_NAMES = {"menet": "MENet"}
MENET = PipelineSpec(
    "menet", 6,
    "MENet: learned codec whose bitstream decodes to an image and a segmentation",
    (QUALITY_SPEC,), "MENet (Chen, Yao, Liu, Zhao, PRCV 2021), §3.1-3.3",
    "app.pipelines.menet:MenetPipeline", layer_names=MENET_LAYERS, display_names=MENET_NAMES)
MENET_NOENH = PipelineSpec(
    "menet-noenh", 6, "MENet decoded without its post-enhancement module (ablation)",
    (QUALITY_SPEC,), "MENet (Chen et al. 2021), §3.3 ablation",
    "app.pipelines.menet:MenetNoEnhancePipeline", layer_names=MENET_LAYERS,
    display_names=MENET_NAMES)
#: Entry point ``menet`` of ``edms_workbench.pipelines``.
SPECS = (MENET, MENET_NOENH)
