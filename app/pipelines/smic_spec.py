"""The spec of :mod:`app.pipelines.smic` (``smic``) and its rate parameters.

It lives beside that module rather than in it because it imports torch, and listing
pipelines must not; :class:`app.pipelines.smic.SmicPipeline` reads its name, version,
description and parameters from here.
"""

from __future__ import annotations

from app.pipelines.spec import ParamSpec, PipelineSpec

QP_SPEC = ParamSpec("qp", "QP (sampled image)", 0, 51, 37, (22, 27, 32, 37, 42), False)
FACTOR_SPEC = ParamSpec("factor", "sampling factor", 2, 16, 4, (4, 8), False,
                        values=(2, 4, 8, 16))
# Our extension: the semantic map is sent at 1/map_scale resolution (block majority vote),
# the decoder repeats each label map_scale x map_scale times. 1 = the paper's full map.
MAP_SCALE_SPEC = ParamSpec("map_scale", "semantic map down-sampling", 1, 16, 8, (8,), False,
                           values=(1, 2, 4, 8, 16))

# v2: carries the CHECK layer (a hash of the reconstruction); v3: Rec-Net runs channels-last
# (faster; its floats differ in the last bit, so a few pixels may differ from v2's)
SMIC = PipelineSpec(
    "smic", 4, "SMIC: SS-Net semantic map + down-sampled HEVC image, Rec-Net reconstruction",
    (QP_SPEC, FACTOR_SPEC, MAP_SCALE_SPEC),
    "SMIC (Wei, Liao, Bai, Zhao: semantic map based image compression via cGAN), Fig. 1",
    "app.pipelines.smic:SmicPipeline",
    reads_versions=(3,), display_names={"ssnet": "SS-Net", "recnet": "Rec-Net"})
#: Entry point ``smic`` of ``edms_workbench.pipelines``.
SPECS = (SMIC,)
