"""The spec of :mod:`app.pipelines.endtoend` (``hyperprior``) and the quality index its
family codes with (MENet's specs, in :mod:`app.pipelines.menet_spec`, share it).

Beside that module rather than in it because it imports torch, and listing pipelines
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
#: Entry point ``endtoend`` of ``edms_workbench.pipelines``.
SPECS = (HYPERPRIOR,)
