"""The specs of :mod:`app.pipelines.edms` (``edms``, ``edms-noenh``, ``edms-lb``,
``edms-pf``, ``edms-lb-pf``).

They live beside that module rather than in it because it imports torch, and listing
pipelines must not; the classes there read their name, version, description and
parameters from here.
"""

from __future__ import annotations

from app.pipelines.layered import BASE_DQP_SPEC, QP_SPEC
from app.pipelines.spec import PipelineSpec

_PAPER = "EDMS (Hoang, Zhou, Fan, CVPR-W 2020)"

# v2: carries the CHECK layer (a hash of the reconstruction)
EDMS = PipelineSpec(
    "edms", 3, "EDMS: compact image + HEVC residual, segmentation recomputed + SMapNet",
    (QP_SPEC,), f"{_PAPER}, §2.1-2.2", "app.pipelines.edms:EdmsPipeline",
    reads_versions=(2,), display_names={"smapnet": "SMapNet"})
# v2: carries the CHECK layer
EDMS_NOENH = PipelineSpec(
    "edms-noenh", 3, "EDMS without semantic enhancement (no SMapNet)",
    (QP_SPEC,), f"{_PAPER}, ablation 'w/o Semantic Enhancement'",
    "app.pipelines.edms:EdmsNoEnhancePipeline",
    reads_versions=(2,))
# v2: 10-bit residual without halving, box-average compact image (lite); v3: CHECK layer
EDMS_LB = PipelineSpec(
    "edms-lb", 4, "EDMS with a lossy HEVC base layer (extension)",
    (QP_SPEC, BASE_DQP_SPEC), "extension", "app.pipelines.edms:EdmsLossyBasePipeline",
    reads_versions=(3,))
# v2: four strengths per block (2 bits) instead of on/off flags; v3: CHECK layer; v4: PostNet
# runs channels-last (faster; a few pixels may differ from v3's); v6: PostNet retrained on the
# PSNR-tuned HEVC layers (new weights: v4 and v5 files carry the old fingerprint, refused)
EDMS_PF = PipelineSpec(
    "edms-pf", 6,
    "EDMS (paper layout) + PostNet post-filter, strength per block (extension)",
    (QP_SPEC,), "extension", "app.pipelines.edms:EdmsPostFilterPipeline")
# v3: four strengths per block (2 bits) instead of on/off flags; v4: CHECK layer; v5: PostNet
# channels-last; v7: PostNet retrained on the PSNR-tuned HEVC layers (v5, v6 files refused)
EDMS_LB_PF = PipelineSpec(
    "edms-lb-pf", 7,
    "EDMS, lossy HEVC base + PostNet post-filter, strength per block (extension)",
    (QP_SPEC, BASE_DQP_SPEC), "extension",
    "app.pipelines.edms:EdmsLossyBasePostFilterPipeline")
#: Entry point ``edms`` of ``edms_workbench.pipelines``.
SPECS = (EDMS, EDMS_NOENH, EDMS_LB, EDMS_PF, EDMS_LB_PF)
