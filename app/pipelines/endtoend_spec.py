"""The specs of the end-to-end learned codecs: ``hyperprior`` (:mod:`app.pipelines.endtoend`)
and ``menet``, ``menet-noenh`` (:mod:`app.pipelines.menet`).

Beside those modules rather than in them because they import torch, and listing pipelines
must not.
"""

from __future__ import annotations

from app.pipelines.spec import ParamSpec, PipelineSpec

#: gain-unit quality index: 1..8 are the trained λ (bigger is better)
QUALITY_SPEC = ParamSpec("quality", "quality", 1, 8, 4, (1, 2, 3, 4, 5, 6, 7, 8), True)

HYPERPRIOR = PipelineSpec(
    "hyperprior", 1,
    "Scale hyperprior (Ballé 2018) with gain units: the learned non-semantic reference",
    (QUALITY_SPEC,), "Ballé, Minnen, Singh, Hwang, Johnston, ICLR 2018 (MENet's base)",
    "app.pipelines.endtoend:HyperpriorPipeline")
MENET = PipelineSpec(
    "menet", 1,
    "MENet: learned codec whose bitstream decodes to an image and a segmentation",
    (QUALITY_SPEC,), "MENet (Chen, Yao, Liu, Zhao, PRCV 2021), §3.1-3.3",
    "app.pipelines.menet:MenetPipeline")
MENET_NOENH = PipelineSpec(
    "menet-noenh", 1, "MENet decoded without its post-enhancement module (ablation)",
    (QUALITY_SPEC,), "MENet (Chen et al. 2021), §3.3 ablation",
    "app.pipelines.menet:MenetNoEnhancePipeline")
#: Entry point ``endtoend`` of ``edms_workbench.pipelines``.
SPECS = (HYPERPRIOR, MENET, MENET_NOENH)
