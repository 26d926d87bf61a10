"""The specs of :mod:`app.pipelines.deepsic` (``deepsic-pre``, ``deepsic-post``) and
:mod:`app.pipelines.deepsic_bitplane` (``deepsic-bp-pre``, ``deepsic-bp-post``), torch-free
so that listing pipelines loads no network."""

from __future__ import annotations

from app.pipelines.endtoend_spec import CODEC_PARAMS, EDGE_LAYER
from app.pipelines.spec import ParamSpec, PipelineSpec, ReferenceSpec

#: the layer codec of DeepSIC's bit planes (:mod:`app.entropy.binary`); its class layer's is
#: :data:`app.pipelines.classlayer.CODEC_ID_CLASSES`. Both ids predate the pipelines' own
#: range (:data:`app.pipelines.spec.OWN_IDS`), so the shared table keeps them allotted.
CODEC_ID_BITPLANES = 11

#: the bit-plane pipelines' operating points: 1/16, 1/8, 1/4, 1/2 or all of the code
#: channels kept (one network, nested channel dropout; app.nets.deepsic.CHANNEL_FRACTIONS)
RATE_SPEC = ParamSpec("rate", "operating point (channels kept: 1/16, 1/8, 1/4, 1/2, all)",
                      1, 5, 3, (1, 2, 3, 4, 5), True)
_PAPER = "DeepSIC (Luo, Yang, Song), §III"
#: the shipped DeepSIC: f and g of a learned transform coder (the hyperprior's, frozen),
#: the rate its gain units' quality (app.nets.deepsic_transform)
#: v4 (both): the semantic heads fine-tuned on random resized crops as well (new weights,
#: the codec's tensors unchanged: v3 files carry the old fingerprint and are refused)
#: v5 (both): the optional edge-offsets layer (``edges``, on by default); v4 files, which
#: have none, decode unchanged
DEEPSIC_PRE = PipelineSpec(
    "deepsic-pre", 5, "DeepSIC pre-semantic: learned transform codec + top-5 classes of the "
    "encoder's features stored in the file",
    CODEC_PARAMS, f"{_PAPER}-D, pre-semantic (f, g: a scale hyperprior)",
    "app.pipelines.deepsic:DeepsicPrePipeline", layer_names=EDGE_LAYER, reads_versions=(4,))
DEEPSIC_POST = PipelineSpec(
    "deepsic-post", 5, "DeepSIC post-semantic: the decoder classifies the decoded latent",
    CODEC_PARAMS, f"{_PAPER}-D, post-semantic (f, g: a scale hyperprior)",
    "app.pipelines.deepsic:DeepsicPostPipeline", layer_names=EDGE_LAYER, reads_versions=(4,))
#: DeepSIC with the paper's own four-stage f and g, Eq. 1's 6-bit codes and the bit-plane
#: coder (app.nets.deepsic); weights deepsic-bp
DEEPSIC_BP_PRE = PipelineSpec(
    "deepsic-bp-pre", 2, "DeepSIC pre-semantic, the paper's network: 6-bit feature codes, "
    "bit-plane coded, + top-5 classes stored in the file",
    (RATE_SPEC,), f"{_PAPER}-A-D, pre-semantic",
    "app.pipelines.deepsic_bitplane:BitplanePrePipeline")
DEEPSIC_BP_POST = PipelineSpec(
    "deepsic-bp-post", 2, "DeepSIC post-semantic, the paper's network: the decoder "
    "classifies the decoded 6-bit features",
    (RATE_SPEC,), f"{_PAPER}-A-D, post-semantic",
    "app.pipelines.deepsic_bitplane:BitplanePostPipeline")
#: the reference networks of the classification task (the first is its default): the
#: shipped Imagenette classifier, and a classifier of DeepSIC's size trained on
#: uncompressed images (the paper's Table I reference)
CLASSIFIER_REFERENCE = ReferenceSpec(
    "classifier", "classification", "Classifier", "the shipped Imagenette classifier",
    "app.pipelines.classify:classifier_reference", weights="classifier")
DEEPSIC_REFERENCE = ReferenceSpec(
    "deepsic-ref", "classification", "DeepSIC reference",
    "a classifier of DeepSIC's size trained on uncompressed images",
    "app.pipelines.deepsic_bitplane:deepsic_reference", weights="deepsic-ref")
#: Entry point ``deepsic`` of ``edms_workbench.pipelines``.
SPECS = (DEEPSIC_PRE, DEEPSIC_POST, DEEPSIC_BP_PRE, DEEPSIC_BP_POST, CLASSIFIER_REFERENCE,
         DEEPSIC_REFERENCE)
