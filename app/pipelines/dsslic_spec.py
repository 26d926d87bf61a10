"""The specs of :mod:`app.pipelines.dsslic` (``dsslic``, ``dsslic-lb``).

They live beside that module rather than in it because it imports torch, and listing
pipelines must not; :class:`app.pipelines.dsslic.DsslicPipeline` and its subclass read
their name, version, description and parameters from here.
"""

from __future__ import annotations

from app.pipelines.layered import BASE_DQP_SPEC, QP_SPEC
from app.pipelines.spec import PipelineSpec, ReferenceSpec

# v2: carries the CHECK layer (a hash of the reconstruction)
DSSLIC = PipelineSpec(
    "dsslic", 3, "DSSLIC: segmentation + lossless compact image + HEVC residual",
    (QP_SPEC,), "DSSLIC (Akbari, Liang, Han, ICASSP 2019), Algorithm 1",
    "app.pipelines.dsslic:DsslicPipeline",
    reads_versions=(2,),
    display_names={"compnet": "CompNet", "finenet": "FineNet", "segnet": "SegNet"})
# v2: 10-bit residual without halving, box-average compact image (lite)
# v3: carries the CHECK layer
DSSLIC_LB = PipelineSpec(
    "dsslic-lb", 4, "DSSLIC with a lossy HEVC base layer (extension)",
    (QP_SPEC, BASE_DQP_SPEC), "extension",
    "app.pipelines.dsslic:DsslicLossyBasePipeline",
    reads_versions=(3,))
#: Entry point ``dsslic`` of ``edms_workbench.pipelines``.
#: the reference network of the segmentation task: DSSLIC's SegNet (the shipped weights)
SEGNET_REFERENCE = ReferenceSpec(
    "segnet", "segmentation", "SegNet", "the shipped SegNet (DSSLIC's segmentation network)",
    "app.pipelines.dsslic:segnet_reference", weights="segnet")
SPECS = (DSSLIC, DSSLIC_LB, SEGNET_REFERENCE)
