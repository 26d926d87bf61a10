"""The specs of the end-to-end learned codecs: ``hyperprior`` (:mod:`app.pipelines.endtoend`)
and ``menet``, ``menet-noenh`` (:mod:`app.pipelines.menet`).

Beside those modules rather than in them because they import torch, and listing pipelines
must not.
"""

from __future__ import annotations

from app.pipelines.spec import ParamSpec, PipelineSpec

#: gain-unit quality index: 1..10 are the trained λ of app.nets.hyperprior.LAMBDAS
#: (bigger is better; about 0.1-1.8 bpp on Kodak with the lite weights)
QUALITY_SPEC = ParamSpec("quality", "quality", 1, 10, 6, tuple(range(1, 11)), True)

HYPERPRIOR = PipelineSpec(
    "hyperprior", 5,
    "Scale hyperprior (Ballé 2018) with gain units: the learned non-semantic reference",
    (QUALITY_SPEC,), "Ballé, Minnen, Singh, Hwang, Johnston, ICLR 2018 (MENet's base)",
    "app.pipelines.endtoend:HyperpriorPipeline")
#: MENet's two LATENT layers: the compression latent z_x (ŷ), then the semantic latent ẑ_s.
MENET_LAYERS: dict[str, tuple[str, ...]] = {"latent": ("image latent", "semantic latent")}
MENET = PipelineSpec(
    "menet", 5,
    "MENet: learned codec whose bitstream decodes to an image and a segmentation",
    (QUALITY_SPEC,), "MENet (Chen, Yao, Liu, Zhao, PRCV 2021), §3.1-3.3",
    "app.pipelines.menet:MenetPipeline", layer_names=MENET_LAYERS)
MENET_NOENH = PipelineSpec(
    "menet-noenh", 5, "MENet decoded without its post-enhancement module (ablation)",
    (QUALITY_SPEC,), "MENet (Chen et al. 2021), §3.3 ablation",
    "app.pipelines.menet:MenetNoEnhancePipeline", layer_names=MENET_LAYERS)
#: Entry point ``endtoend`` of ``edms_workbench.pipelines``.
SPECS = (HYPERPRIOR, MENET, MENET_NOENH)
