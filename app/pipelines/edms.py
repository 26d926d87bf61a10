"""EDMS (Hoang, Zhou, Fan, CVPR-W 2020) as pipelines ``edms`` and ``edms-noenh``.

Encoder-decoder matched segmentation (§2.1–2.2): only the compact image and the residual
are sent. Both sides compute the segmentation from the upsampled compact image,
s~ = SegNet(c'), enhance it with SMapNet (a DRRN-style recursive residual network, §2.1)
and feed it to FineNet: x' = c' + FineNet(SMapNet(s~), c'). The encoder still uses the
segmentation of the original, SegNet(x), as CompNet's side input (it has x).
``edms-noenh`` is the paper's "w/o Semantic Enhancement": SMapNet is skipped on both
sides. ``edms-lb`` is our lossy-base extension (base layer coded by HEVC); ``edms-pf`` and
``edms-lb-pf`` add our decoder-side post-filter PostNet (:mod:`app.pipelines.postfilter`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.pipelines.base import Layer, LayerKind, View, ViewKind
from app.pipelines.dsslic import DsslicPipeline, shared_nets
from app.pipelines.edms_spec import EDMS, EDMS_LB, EDMS_LB_PF, EDMS_NOENH, EDMS_PF
from app.pipelines.layered import LayeredPipeline


class EdmsPipeline(LayeredPipeline):
    spec = EDMS
    enhance = True

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        # with SMapNet, FineNet is the copy fine-tuned on SMapNet's output (EDMS §2.2)
        extra = ("smapnet",) if self.enhance else ()
        if self.use_post_filter:
            extra = (*extra, "postnet")
        recon = "dsslic-edms" if self.enhance else "dsslic"
        self.nets = shared_nets(config, device, extra, recon)
        self.smapnet = None
        if self.enhance:
            from app.nets import zoo

            self.smapnet, _ = zoo.load_model("smapnet", config, device)
        self._post = None
        if self.use_post_filter:
            from app.pipelines.postfilter import shared_post_filter

            self._post = shared_post_filter(config, device)

    model_fingerprint = DsslicPipeline.model_fingerprint

    def segment_and_compact(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's s = SegNet(x) and c = CompNet(x, s), as in DSSLIC."""
        return self.nets.segment_and_compact(image, self.report)

    def to(self, device: str) -> bool:
        """SegNet(x) and CompNet (when there is one; lite EDMS box-averages) run on
        ``device``; everything the decoder runs (SegNet(c'), SMapNet, FineNet, PostNet)
        stays on the CPU."""
        self.nets.to(device)
        return self.nets.dsslic.compnet is not None

    @property
    def analysis_device(self) -> str:
        return self.nets.analysis_device.type if self.nets.dsslic.compnet is not None \
            else "cpu"

    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        if self.nets.dsslic.compnet is None:
            # lite: the compact image is the box average, which needs no segmentation; EDMS
            # never sends SegNet(x), so the encoder skips it (one network pass less)
            self.report("compact image")
            h, w = image.shape[:2]
            return {"c8": self.nets.compact(image, np.zeros((h, w), np.uint8)), "views": {}}
        seg, c8 = self.segment_and_compact(image)
        return {"c8": c8, "views": {"segmentation_original": View(ViewKind.SEGMENTATION, seg)}}

    def side_layers(self, analysis: dict[str, Any]) -> list[Layer]:
        return []

    def side_from_layers(self, layers: dict[LayerKind, Layer]) -> dict[str, Any]:
        return {}

    def predict(self, c8: np.ndarray, side: dict[str, Any], height: int, width: int
                ) -> tuple[np.ndarray, dict[str, View]]:
        self.report("decoder-side segmentation")
        s_up = self.nets.segment_upsampled(c8, height, width)
        if self.smapnet is not None:
            self.report("semantic enhancement (SMapNet)")
            seg = self.nets.enhance(self.smapnet, s_up, c8)
        else:
            seg = s_up
        self.report("synthesis")
        xp, cu = self.nets.reconstruct(c8, seg)
        views = {"segmentation": View(ViewKind.SEGMENTATION, seg, overlay=True),
                 "upsampled": View(ViewKind.IMAGE, cu)}
        if self.smapnet is not None:
            views["segmentation_before_smapnet"] = View(ViewKind.SEGMENTATION, s_up)
        return xp, views


    def post_filter(self, x_hat: np.ndarray, prediction: np.ndarray, qp: int) -> np.ndarray:
        if self._post is None:
            raise NotImplementedError(f"{self.name} has no post-filter")
        self.report("post-filter (PostNet)")
        return self._post(x_hat, prediction, qp)


class EdmsNoEnhancePipeline(EdmsPipeline):
    spec = EDMS_NOENH
    enhance = False


class EdmsLossyBasePipeline(EdmsPipeline):
    spec = EDMS_LB  # base layer coded by HEVC at qp - base_dqp
    lossy_base = True
    residual_10bit = True


class EdmsPostFilterPipeline(EdmsPipeline):
    spec = EDMS_PF  # PostNet strength per 64x64 block
    use_post_filter = True


class EdmsLossyBasePostFilterPipeline(EdmsLossyBasePipeline):
    spec = EDMS_LB_PF  # PostNet strength per 64x64 block
    use_post_filter = True
