"""The specs of :mod:`app.pipelines.hevcpf` (``hevc-pf``, ``hevc-spf``), torch-free so that
listing pipelines loads no network."""

from __future__ import annotations

from app.pipelines.layered import QP_SPEC
from app.pipelines.spec import ParamSpec, PipelineSpec

#: Geometric self-ensemble of the filter (:data:`app.pipelines.postfilter.VIEW_FLIPS`):
#: 1, 2 or 4 mirrorings averaged; not a rate knob (the HEVC bytes are the same), a
#: decoding-time / quality trade. Files without it (earlier versions) decode with 1.
VIEWS_SPEC = ParamSpec("views", "filter views (self-ensemble)", 1, 4, 4, (4,), True,
                       values=(1, 2, 4), rate=False)

# v2 (both): PostNet runs channels-last (faster; a few pixels may differ from v1's)
# v3 (both): the HEVC layer is PSNR-tuned; hevc-pf's PostNet retrained on it (new weights:
# v2 files carry the old fingerprint and are refused); hevc-spf reads v2 files unchanged
# v4 (hevc-pf): a larger PostNet (8 trunk blocks, 2 full-resolution blocks), new weights;
# v3 files are refused
# v5 (hevc-pf): the same PostNet fine-tuned on the mean per-sample log MSE (every QP's dB
# counts alike), new weights; v4 files are refused
# v6 (hevc-pf): the same PostNet fine-tuned further on pairs coded at low QPs (20-32) as well,
# new weights; v5 files are refused
# v7 (hevc-pf): the PostNet grown by 2 more full-resolution blocks (4) and fine-tuned on the
# same pairs, new weights (v6 files are refused), and run as a geometric self-ensemble
# (``views``, 4 by default)
HEVC_PF = PipelineSpec(
    "hevc-pf", 7,
    "HEVC 4:4:4 (the hevc pipeline's bytes) + PostNet post-filter trained on HEVC, strength "
    "per 64x64 block (extension)",
    (QP_SPEC, VIEWS_SPEC), "extension: the fair anchor of the -pf pipelines",
    "app.pipelines.hevcpf:HevcPostFilterPipeline")
# v4 (hevc-spf): its PostNet retrained on the PSNR-tuned HEVC, as large as hevc-pf's and
# warm-started from it (new weights: v2 and v3 files are refused)
# v5 (hevc-spf): the filter's geometric self-ensemble (``views``, 4 by default); v4 files
# decode with one view, as their encoder ran
HEVC_SPF = PipelineSpec(
    "hevc-spf", 5,
    "HEVC 4:4:4 + semantic PostNet (map recomputed by the decoder from the decoded image), "
    "strength per 64x64 block (extension)",
    (QP_SPEC, VIEWS_SPEC), "extension, after MENet's post-enhancement (§3.3)",
    "app.pipelines.hevcpf:HevcSemanticPostFilterPipeline", reads_versions=(4,))
#: Entry point ``hevcpf`` of ``edms_workbench.pipelines``.
SPECS = (HEVC_PF, HEVC_SPF)
