"""DSSLIC (Akbari, Liang, Han, ICASSP 2019) as a pipeline: ``dsslic`` and ``dsslic-lb``.

Layers (Algorithm 1): the segmentation map s = SegNet(x) (first enhancement layer,
lossless, the smallest of JPEG XL / WebP / PNG), the compact image c = CompNet(x, s)
(base layer, lossless — FLIF in the paper, JPEG XL here), and the residual
r = (x - x' + 255) / 2 with x' = c' + FineNet(s, c') (second enhancement layer, HEVC
4:4:4 at the chosen QP — BPG in the paper).

``dsslic-lb`` is our lossy-base extension: c is coded by HEVC at ``qp - base_dqp`` and
x' is computed from the decoded c on both sides.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from app.classes import VOID
from app.codecs import decode_layer, encode_smallest_lossless
from app.errors import PipelineError
from app.pipelines.base import Layer, LayerKind, NetsOwner, View, ViewKind
from app.pipelines.dsslic_spec import DSSLIC, DSSLIC_LB
from app.pipelines.layered import LayeredPipeline, pad_image
from app.pipelines.netrun import (
    UNIT,
    fixed_threads,
    image_to_tensor,
    module_on,
    tiled,
    to_uint8_image,
)

if TYPE_CHECKING:
    from app.nets.smapnet import SMapNet


class DsslicNets:
    """SegNet + CompNet/FineNet loaded from ``models/`` with their fingerprint.

    ``recon`` names the CompNet/FineNet weights: ``dsslic``, or ``dsslic-edms`` (FineNet
    fine-tuned on SMapNet's output, EDMS's training procedure).

    ``analysis_device`` is where the encoder-only networks run (SegNet(x) and CompNet,
    whose outputs are coded into the file); every network the decoder runs stays on the
    CPU (:func:`app.pipelines.netrun.module_on`)."""

    analysis_device = torch.device("cpu")

    def to(self, device: str | torch.device) -> None:
        """Run the encoder's analysis networks on ``device`` from now on."""
        self.analysis_device = torch.device(device)

    def _analysis(self, module: torch.nn.Module) -> Any:
        return module_on(module, self.analysis_device, vars(self).setdefault("_copies", {}))

    def __init__(self, config: str = "lite", device: str = "cpu",
                 extra: tuple[str, ...] = (), recon: str = "dsslic") -> None:
        from app.nets import zoo

        self.config = config
        self.device = torch.device(device)
        self.segnet, self.segnet_manifest = zoo.load_model("segnet", config, self.device)
        self.dsslic, self.dsslic_manifest = zoo.load_model(recon, config, self.device)
        self.fingerprint = zoo.fingerprint(["segnet", recon, *extra], config)

    def _run(self, fn, inputs, out_scale: int, h: int, w: int,  # noqa: ANN001
             device: torch.device | None = None) -> torch.Tensor:
        with fixed_threads():
            moved = [(t.to(device or self.device), s) for t, s in inputs]
            return tiled(fn, moved, out_scale, h, w).cpu()

    def segment(self, image: np.ndarray) -> np.ndarray:
        """SegNet(x): HxW uint8 class map (CamVid order)."""
        h, w = image.shape[:2]
        x = image_to_tensor(image) / 255.0
        segnet = self._analysis(self.segnet)
        labels = self._run(lambda t: segnet.predict(t).to(torch.uint8), [(x, UNIT)],
                           UNIT, h, w, self.analysis_device)
        return labels[0].numpy()

    def segment_and_compact(self, image: np.ndarray, report: Callable[[str], None]
                            ) -> tuple[np.ndarray, np.ndarray]:
        """s = SegNet(x), c = CompNet(x, s) (8-bit), telling ``report`` each stage."""
        report("segmentation")
        seg = self.segment(image)
        report("compact image")
        return seg, self.compact(image, seg)

    def compact(self, image: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """c = CompNet(x, s), rounded to the 8-bit base layer (h/8 x w/8 x 3)."""
        from app.nets.dsslic import compact_to_uint8

        h, w = image.shape[:2]
        x = image_to_tensor(image) / 127.5 - 1
        s = torch.from_numpy(seg.astype(np.int64))[None]
        net = self._analysis(self.dsslic)
        c8 = self._run(lambda a, b: compact_to_uint8(net.compact(a, b)),
                       [(x, UNIT), (s, UNIT)], 1, h, w, self.analysis_device)
        return np.ascontiguousarray(c8[0].permute(1, 2, 0).numpy())

    def reconstruct(self, c8: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """RecNet(s, c): (x', c') as HxWx3 uint8."""
        from app.nets.dsslic import uint8_to_compact

        h, w = seg.shape
        c = uint8_to_compact(torch.from_numpy(c8).permute(2, 0, 1)[None])
        s = torch.from_numpy(seg.astype(np.int64))[None]

        def rec(ct: torch.Tensor, st: torch.Tensor) -> torch.Tensor:
            xr, cu = self.dsslic.reconstruct(ct, st)
            return torch.cat([xr, cu], 1)

        both = self._run(rec, [(c, 1), (s, UNIT)], UNIT, h, w)
        return to_uint8_image(both[:, :3]), to_uint8_image(both[:, 3:])

    def segment_upsampled(self, c8: np.ndarray, h: int, w: int) -> np.ndarray:
        """SegNet(c'): the segmentation EDMS computes from the upsampled compact image."""
        from app.nets.dsslic import uint8_to_compact, upsample_compact

        c = uint8_to_compact(torch.from_numpy(c8).permute(2, 0, 1)[None])

        def seg_up(ct: torch.Tensor) -> torch.Tensor:
            up = (upsample_compact(ct).clamp(-1, 1) + 1) / 2
            return self.segnet.predict(up).to(torch.uint8)

        labels = self._run(seg_up, [(c, 1)], UNIT, h, w)
        return np.ascontiguousarray(labels[0, :h, :w].numpy())


    def enhance(self, smapnet: SMapNet, s_up: np.ndarray, c8: np.ndarray) -> np.ndarray:
        """SMapNet(s~, c'): EDMS's enhanced segmentation (HxW uint8)."""
        from app.nets.dsslic import one_hot, uint8_to_compact, upsample_compact

        h, w = s_up.shape
        c = uint8_to_compact(torch.from_numpy(c8).permute(2, 0, 1)[None])
        s = torch.from_numpy(s_up.astype(np.int64))[None]

        def run(ct: torch.Tensor, st: torch.Tensor) -> torch.Tensor:
            up = (upsample_compact(ct)[..., : st.shape[-2], : st.shape[-1]].clamp(-1, 1) + 1) / 2
            return smapnet.predict(one_hot(st), up).to(torch.uint8)

        smapnet.to(self.device)
        labels = self._run(run, [(c, 1), (s, UNIT)], UNIT, h, w)
        return np.ascontiguousarray(labels[0].numpy())


def segnet_reference(config: str = "lite") -> Callable[[np.ndarray], np.ndarray]:
    """The ``segnet`` reference network (:data:`app.pipelines.dsslic_spec.SEGNET_REFERENCE`):
    an image's HxW CamVid class map."""
    nets = shared_nets(config)

    def segment(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        return nets.segment(pad_image(image))[:h, :w]

    return segment


def shared_nets(config: str = "lite", device: str = "cpu",
                extra: tuple[str, ...] = (), recon: str = "dsslic") -> DsslicNets:
    """One loaded network set per configuration, shared by the pipelines."""
    # positional, so that every call spelling hits the same cache entry
    return _cached_nets(config, str(device), tuple(extra), recon)


@functools.cache
def _cached_nets(config: str, device: str, extra: tuple[str, ...], recon: str) -> DsslicNets:
    return DsslicNets(config, device, extra, recon)


class DsslicPipeline(NetsOwner, LayeredPipeline):
    """DSSLIC, paper layout: segmentation map + lossless compact image + HEVC residual."""

    spec = DSSLIC

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        self.nets = shared_nets(config, device)

    def segment_and_compact(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoder side of both papers: s = SegNet(x), c = CompNet(x, s) (8-bit)."""
        return self.nets.segment_and_compact(image, self.report)

    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        seg, c8 = self.segment_and_compact(image)
        self.report("semantic map coding")
        codec_id, data = encode_smallest_lossless(seg)
        return {"seg": seg, "c8": c8, "seg_layer": Layer(LayerKind.SEMANTIC_MAP, codec_id, data),
                "views": {"segmentation": View(ViewKind.SEGMENTATION, seg, overlay=True)}}

    def side_layers(self, analysis: dict[str, Any]) -> list[Layer]:
        return [analysis["seg_layer"]]

    def side_from_layers(self, layers: dict[LayerKind, Layer]) -> dict[str, Any]:
        layer = layers.get(LayerKind.SEMANTIC_MAP)
        if layer is None:
            raise PipelineError(f"{self.name}: the file has no semantic_map layer")
        seg = decode_layer(layer.codec_id, layer.data)
        if seg.ndim != 2 or seg.dtype != np.uint8 or int(seg.max(initial=0)) > VOID:
            raise PipelineError(f"{self.name}: the semantic map layer is not a class map")
        return {"seg": seg}

    def predict(self, c8: np.ndarray, side: dict[str, Any], height: int, width: int
                ) -> tuple[np.ndarray, dict[str, View]]:
        seg = side["seg"]
        if seg.shape != (height, width):
            raise PipelineError(f"{self.name}: semantic map is {seg.shape}, image is "
                                f"{(height, width)}")
        self.report("synthesis")
        xp, cu = self.nets.reconstruct(c8, seg)
        # the map is the file's lossless layer: the decoder's view of it equals the encoder's
        return xp, {"segmentation": View(ViewKind.SEGMENTATION, seg, overlay=True),
                    "upsampled": View(ViewKind.IMAGE, cu)}


class DsslicLossyBasePipeline(DsslicPipeline):
    """Our extension: the base layer is coded by HEVC at ``qp - base_dqp``."""

    spec = DSSLIC_LB
    lossy_base = True
    residual_10bit = True
