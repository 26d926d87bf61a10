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
#: whether the encoder may add the edge-offsets layer (:mod:`app.pipelines.edgeoffsets`):
#: not a rate knob (the latent is the same; the layer is a few bytes, written only where
#: it pays), an ablation switch. Files before it (no such header field) carry no layer.
EDGES_SPEC = ParamSpec("edges", "edge offsets", 0, 1, 1, (1,), True, values=(0, 1),
                       choices=("off", "on"), rate=False)
#: the family's parameters, in header order
CODEC_PARAMS = (QUALITY_SPEC, EDGES_SPEC)
#: the family's layer names (the RESIDUAL layer is the optional edge offsets)
EDGE_LAYER: dict[str, tuple[str, ...]] = {"residual": ("edge offsets",)}

# v6: the optional edge-offsets layer (``edges``, on by default); v5 files, which have
# none, decode unchanged
HYPERPRIOR = PipelineSpec(
    "hyperprior", 6,
    "Scale hyperprior (Ballé 2018) with gain units: the learned non-semantic reference",
    CODEC_PARAMS, "Ballé, Minnen, Singh, Hwang, Johnston, ICLR 2018 (MENet's base)",
    "app.pipelines.endtoend:HyperpriorPipeline", layer_names=EDGE_LAYER, reads_versions=(5,))
#: Entry point ``endtoend`` of ``edms_workbench.pipelines``.
SPECS = (HYPERPRIOR,)
