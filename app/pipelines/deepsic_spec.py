"""The specs of :mod:`app.pipelines.deepsic` (``deepsic-pre``, ``deepsic-post``), torch-free
so that listing pipelines loads no network."""

from __future__ import annotations

from app.pipelines.spec import ParamSpec, PipelineSpec, ReferenceSpec

#: the layer codec of DeepSIC's bit planes (:mod:`app.entropy.binary`); its class layer's is
#: :data:`app.pipelines.classlayer.CODEC_ID_CLASSES`. Both ids predate the pipelines' own
#: range (:data:`app.pipelines.spec.OWN_IDS`), so the shared table keeps them allotted.
CODEC_ID_BITPLANES = 11

#: the operating points: 1/16, 1/8, 1/4, 1/2 or all of the code channels kept (one
#: network, nested channel dropout; :data:`app.nets.deepsic.CHANNEL_FRACTIONS`)
RATE_SPEC = ParamSpec("rate", "operating point (channels kept: 1/16, 1/8, 1/4, 1/2, all)",
                      1, 5, 3, (1, 2, 3, 4, 5), True)
_PAPER = "DeepSIC (Luo, Yang, Song), §III"
DEEPSIC_PRE = PipelineSpec(
    "deepsic-pre", 2, "DeepSIC pre-semantic: learned codec + top-5 classes stored in the file",
    (RATE_SPEC,), f"{_PAPER}-D, pre-semantic", "app.pipelines.deepsic:DeepsicPrePipeline")
DEEPSIC_POST = PipelineSpec(
    "deepsic-post", 2, "DeepSIC post-semantic: the decoder classifies the decoded features",
    (RATE_SPEC,), f"{_PAPER}-D, post-semantic", "app.pipelines.deepsic:DeepsicPostPipeline")
#: the reference networks of the classification task (the first is its default): the
#: shipped Imagenette classifier, and a classifier of DeepSIC's size trained on
#: uncompressed images (the paper's Table I reference)
CLASSIFIER_REFERENCE = ReferenceSpec(
    "classifier", "classification", "Classifier", "the shipped Imagenette classifier",
    "app.pipelines.classify:classifier_reference", weights="classifier")
DEEPSIC_REFERENCE = ReferenceSpec(
    "deepsic-ref", "classification", "DeepSIC reference",
    "a classifier of DeepSIC's size trained on uncompressed images",
    "app.pipelines.deepsic:deepsic_reference", weights="deepsic-ref")
#: Entry point ``deepsic`` of ``edms_workbench.pipelines``.
SPECS = (DEEPSIC_PRE, DEEPSIC_POST, CLASSIFIER_REFERENCE, DEEPSIC_REFERENCE)
