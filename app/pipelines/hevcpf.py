"""HEVC 4:4:4 with a learned post-filter: ``hevc-pf`` and ``hevc-spf`` (our extension).

The fair anchor for the layered pipelines' PostNet: the image is coded exactly as the
``hevc`` pipeline codes it (x265, 4:4:4, the same bytes at the same QP), then a PostNet
trained on HEVC-decoded images (:mod:`app.nets.postnet` without the prediction input, since
plain HEVC has none) corrects the decoded image, blended in per 64x64 block at the strength
the encoder chose against the original — the same side-information layer and integer
blending as ``edms-pf`` (:func:`app.pipelines.layered.post_filter_encode`), so the decoder
rebuilds the encoder's reconstruction bit for bit.

``hevc-spf`` also conditions the filter on a segmentation map, in the spirit of EDMS's
semantic enhancement and MENet's post-enhancement module (spatial weights from channel-wise
max and average pooling). By default the decoder recomputes the map with the shipped SegNet
from the decoded HEVC image (no bits); with :attr:`HevcSemanticPostFilterPipeline.send_map`
the encoder sends SegNet(x) of the original as a lossless semantic-map layer instead (the
bits count), the alternative measured in docs/results.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.classes import NUM_CLASSES
from app.codecs import baseline_codec, decode_layer, encode_smallest_lossless
from app.errors import PipelineError
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline, View, ViewKind, layers_by_kind
from app.pipelines.hevcpf_spec import HEVC_PF, HEVC_SPF, VIEWS_SPEC
from app.pipelines.layered import (
    QP_SPEC,
    pad_image,
    post_filter_decode,
    post_filter_encode,
)

HEVC_CODEC = "hevc444"  # the ``hevc`` pipeline's baseline codec: the same bytes


class HevcPostFilterPipeline(Pipeline):
    """HEVC 4:4:4 + PostNet(x_hat, QP) with per-block strengths."""

    spec = HEVC_PF
    weights = "postnet-hevc"
    semantic = False  # hevc-spf: the filter also sees a segmentation map
    send_map = False  # with ``semantic``: the map is SegNet(x), sent; else SegNet(x_hat)

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        from app.nets import zoo
        from app.pipelines.postfilter import shared_post_filter

        self._post = shared_post_filter(config, device, self.weights)
        self._nets = None
        names = [self.weights]
        if self.semantic:
            from app.pipelines.dsslic import shared_nets

            self._nets = shared_nets(config, device)
            names = ["segnet", *names]
        self._fingerprint = zoo.fingerprint(names, config)

    @property
    def model_fingerprint(self) -> bytes:
        return self._fingerprint

    def _segment(self, image: np.ndarray) -> np.ndarray:
        """SegNet's HxW class map (the image edge-padded to the networks' minimum size)."""
        assert self._nets is not None
        h, w = image.shape[:2]
        return np.ascontiguousarray(self._nets.segment(pad_image(image))[:h, :w])

    def prepare(self, image: np.ndarray) -> dict[str, Any]:
        prep: dict[str, Any] = {"image": np.ascontiguousarray(image)}
        if self.semantic and self.send_map:
            self.report("segmentation")
            seg = self._segment(prep["image"])
            codec_id, data = encode_smallest_lossless(seg)
            prep["seg"], prep["seg_layer"] = seg, Layer(LayerKind.SEMANTIC_MAP, codec_id, data)
        return prep

    def _map(self, x_hat: np.ndarray, sent: np.ndarray | None) -> np.ndarray | None:
        """The map the filter sees: none, the sent one, or SegNet(x_hat)."""
        if not self.semantic or sent is not None:
            return sent
        self.report("decoder-side segmentation")
        return self._segment(x_hat)

    def _filter(self, x_hat: np.ndarray, qp: int, seg: np.ndarray | None, views: int
                ) -> np.ndarray:
        self.report("post-filter (PostNet)" if views == 1
                    else f"post-filter (PostNet, {views} views)")
        return self._post(x_hat, None, qp, seg, views)

    def encode_prepared(self, prepared: Any, params: dict[str, int]) -> Encoded:
        image: np.ndarray = prepared["image"]
        qp = params["qp"]
        self.report("HEVC coding")
        codec = baseline_codec(HEVC_CODEC, qp)
        data = codec.encode(image)
        x_hat = codec.decode(data)  # what every decoder of these bytes rebuilds
        seg = self._map(x_hat, prepared.get("seg"))
        filtered = self._filter(x_hat, qp, seg, params.get("views", 1))
        side_layer, recon, views = post_filter_encode(image, x_hat, filtered)
        layers = [Layer(LayerKind.IMAGE, codec.codec_id, data), side_layer]
        if "seg_layer" in prepared:
            layers.insert(1, prepared["seg_layer"])
        if seg is not None:
            views["segmentation"] = View(ViewKind.SEGMENTATION, seg, overlay=True)
        h, w = image.shape[:2]
        return self.encoded(h, w, params, layers, recon, views)

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The filtered image and the encoder's views: the HEVC image before the filter,
        the strength per block and, for ``hevc-spf``, the class map the filter saw (when
        some block uses the filter; the decoder does not segment otherwise)."""
        required: tuple[LayerKind, ...] = (LayerKind.IMAGE, LayerKind.SIDE_INFO)
        if self.semantic and self.send_map:
            required = (*required, LayerKind.SEMANTIC_MAP)
        by_kind = layers_by_kind(self.name, encoded.layers, required)
        h, w = encoded.height, encoded.width
        x_hat = decode_layer(by_kind[LayerKind.IMAGE].codec_id, by_kind[LayerKind.IMAGE].data)
        if x_hat.shape != (h, w, 3) or x_hat.dtype != np.uint8:
            raise PipelineError(f"{self.name}: image layer decodes to {x_hat.shape} "
                                f"{x_hat.dtype}, header says {(h, w, 3)}")
        seg = None
        if self.semantic and self.send_map:
            lay = by_kind[LayerKind.SEMANTIC_MAP]
            seg = decode_layer(lay.codec_id, lay.data)
            if seg.shape != (h, w) or seg.dtype != np.uint8 or int(seg.max()) > NUM_CLASSES:
                raise PipelineError(f"{self.name}: the semantic map layer is not an "
                                    f"{h}x{w} class map")
        qp = int(encoded.params.get("qp", QP_SPEC.default))
        n_views = int(encoded.params.get("views", 1))  # files before the self-ensemble: 1
        if not VIEWS_SPEC.allows(n_views):
            raise PipelineError(f"{self.name}: the header's filter views must be "
                                f"{VIEWS_SPEC.describe_range()}, got {n_views}")
        used = seg  # the map the filter saw: the sent one, or SegNet(x_hat) once it runs

        def run_filter() -> np.ndarray:
            nonlocal used
            used = self._map(x_hat, seg)
            return self._filter(x_hat, qp, used, n_views)

        recon, views = post_filter_decode(self.name, x_hat, by_kind[LayerKind.SIDE_INFO],
                                          run_filter)
        if used is not None:
            views["segmentation"] = View(ViewKind.SEGMENTATION, used, overlay=True)
        return recon, views


class HevcSemanticPostFilterPipeline(HevcPostFilterPipeline):
    """``hevc-spf``: the filter also sees SegNet's map of the decoded image (no bits)."""

    spec = HEVC_SPF
    weights = "postnet-hevc-seg"
    semantic = True


class HevcSentMapPostFilterPipeline(HevcSemanticPostFilterPipeline):
    """The alternative of ``hevc-spf`` that sends SegNet(x) of the original losslessly
    (measured against it; not registered, see docs/results.md)."""

    name = "hevc-spf-map"
    description = ("HEVC 4:4:4 + semantic PostNet, segmentation of the original sent "
                   "losslessly, strength per 64x64 block (extension)")
    send_map = True
