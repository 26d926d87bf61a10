"""SMIC (Wei, Liao, Bai, Zhao: semantic map based image compression via cGAN) as ``smic``.

Bitstream (Fig. 1): layer 1 = the semantic map s = SS-Net(x) (:class:`LayerKind`
SEMANTIC_MAP), at 1/``map_scale`` resolution (our extension, default 8: the majority label
of each block; the decoder repeats each label; ``map_scale`` 1 is the paper's full-size
map, which costs 0.2-0.3 bpp per image with our CamVid-trained SS-Net); layer 2 = the
sampled image, x down-sampled by the sampling factor
(2, 4, 8 or 16; area average, :func:`app.nets.smic.downsample`) and coded by HEVC 4:4:4 at
the chosen QP (COMPACT_IMAGE; the paper codes it losslessly with FLIF, QP 0 is our
near-lossless stand-in). The decoder up-samples layer 2 bicubically and feeds it with the
one-hot semantic map to Rec-Net, whose output is the decoded image.

The semantic map is coded with whichever is smaller of (a) HEVC 4:0:0 of the labels
spread over 0..255 (``label * 23``) at the highest QP whose decode still rounds back to
exactly the same labels (the paper uses lossy BPG) and (b) the smallest lossless codec
(:func:`app.codecs.encode_smallest_lossless`); the decoder rounds an HEVC map to the
nearest class. Either way the decoder gets the encoder's labels exactly.

Rate control is the pair (sampling factor, QP) (plus ``map_scale``). SS-Net runs once per
image in :meth:`SmicPipeline.prepare`; the map layer of each map scale and each factor's
down-sampled image are cached in the prepared state, so a sweep only codes layer 2 and
runs Rec-Net.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch

from app.cancel import check_cancelled
from app.classes import VOID
from app.codecs import CODEC_ID_HEVC, decode_layer, encode_smallest_lossless, hevc
from app.errors import PipelineError
from app.pipelines import netrun
from app.pipelines.base import (
    Encoded,
    Layer,
    LayerKind,
    NetsOwner,
    Pipeline,
    View,
    ViewKind,
    layers_by_kind,
)
from app.pipelines.netrun import (
    UNIT,
    fixed_threads,
    image_to_tensor,
    module_on,
    tiled,
    to_uint8_image,
)
from app.pipelines.smic_spec import SMIC

LABEL_STEP = 23  # labels 0..11 -> 0..253 in the HEVC map layer; decoder rounds v / 23
MAX_LABEL = VOID  # CamVid classes and void (SS-Net never predicts void; accepted anyway)
# Margins for tiled inference of images larger than a tile (netrun.tiled; its HALO of 32
# is too small here). Measured receptive-field radii (gradient support of one output
# pixel): lite SS-Net 42 px, lite Rec-Net 69 px, so these halos cover them and tiled
# output equals whole-image output up to float summation order. The encoder and decoder
# tile identically, so the decoder is bit-exact either way.
SSNET_HALO = 64
RECNET_HALO = 96

_MAP_QPS = (51, 46, 41, 36, 31, 26, 21, 16, 11, 6, 0)


def pool_labels(labels: np.ndarray, m: int) -> np.ndarray:
    """Majority label of every m x m block (edge-padded; ties -> the lower class index)."""
    if m == 1:
        return labels
    from app.nets.smic import sampled_size

    h, w = labels.shape
    hs, ws = sampled_size(h, w, m)
    lab = np.pad(labels, ((0, hs * m - h), (0, ws * m - w)), mode="edge")
    blocks = lab.reshape(hs, m, ws, m)
    counts = np.stack([(blocks == c).sum(axis=(1, 3), dtype=np.int32)
                       for c in range(MAX_LABEL + 1)], -1)
    return counts.argmax(-1).astype(np.uint8)


def unpool_labels(small: np.ndarray, m: int, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour up-sampling of a pooled map, cropped to ``height x width``."""
    if m == 1:
        return small
    return np.ascontiguousarray(np.repeat(np.repeat(small, m, 0), m, 1)[:height, :width])


def map_to_hevc_samples(labels: np.ndarray) -> np.ndarray:
    return (labels.astype(np.uint16) * LABEL_STEP).astype(np.uint8)


def hevc_samples_to_map(samples: np.ndarray) -> np.ndarray:
    """Nearest class of HEVC-decoded map samples (round half up, clamped to 0..11)."""
    v = (samples.astype(np.int32) + LABEL_STEP // 2) // LABEL_STEP
    return np.minimum(v, MAX_LABEL).astype(np.uint8)


def encode_semantic_map(labels: np.ndarray) -> tuple[int, bytes, int | None]:
    """Code a class map exactly: ``(codec_id, data, hevc_qp or None if lossless)``.

    Scans HEVC QPs from high to low (coarse grid, then the QPs just above the first exact
    one) for the highest QP whose decode rounds back to ``labels``; stops as soon as an
    inexact HEVC coding is already no smaller than the lossless one (HEVC sizes grow as the
    QP falls). On real segmentation maps the lossless coding (JPEG XL) is usually several
    times smaller than the smallest exact HEVC coding, so it is what ends up in the file.
    """
    if labels.ndim != 2 or labels.dtype != np.uint8 or int(labels.max(initial=0)) > MAX_LABEL:
        raise PipelineError("semantic map must be an HxW uint8 array of labels 0..11")
    lossless_id, lossless = encode_smallest_lossless(labels)
    samples = map_to_hevc_samples(labels)
    tried: dict[int, bytes | None] = {}
    too_big = False

    def attempt(qp: int) -> bytes | None:
        nonlocal too_big
        if qp not in tried:
            check_cancelled()
            data = hevc(qp).encode(samples)
            too_big = too_big or len(data) >= len(lossless)
            ok = np.array_equal(hevc_samples_to_map(decode_layer(CODEC_ID_HEVC, data)), labels)
            tried[qp] = data if ok else None
        return tried[qp]

    best: tuple[int, bytes] | None = None
    prev = 52
    for qp in _MAP_QPS:
        data = attempt(qp)
        if data is None and too_big:  # lower QPs only get bigger: lossless wins
            break
        if data is not None:
            best = (qp, data)
            for q in range(prev - 1, qp, -1):  # a higher exact QP between two grid points?
                d = attempt(q)
                if d is not None:
                    best = (q, d)
                    break
            break
        prev = qp
    if best is not None and len(best[1]) < len(lossless):
        return CODEC_ID_HEVC, best[1], best[0]
    return lossless_id, lossless, None


def decode_semantic_map(codec_id: int, data: bytes) -> np.ndarray:
    """Layer 1 -> HxW uint8 labels (HEVC samples rounded to the nearest class)."""
    arr = decode_layer(codec_id, data)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise PipelineError("smic: the semantic map layer is not a one-channel 8-bit map")
    if codec_id == CODEC_ID_HEVC:
        return hevc_samples_to_map(arr)
    if int(arr.max(initial=0)) > MAX_LABEL:
        raise PipelineError("smic: the semantic map layer is not a class map")
    return arr


class SmicNets:
    """SS-Net + Rec-Net loaded from ``models/`` with their joint fingerprint.

    ``analysis_device`` is where SS-Net runs (the encoder's map, coded into layer 1);
    Rec-Net, which the decoder runs, stays on the CPU."""

    analysis_device = torch.device("cpu")

    def to(self, device: str | torch.device) -> None:
        """Run SS-Net on ``device`` from now on."""
        self.analysis_device = torch.device(device)

    def __init__(self, config: str = "lite", device: str = "cpu") -> None:
        from app.nets import zoo

        self.config = config
        self.device = torch.device(device)
        self.ssnet, self.ssnet_manifest = zoo.load_model("ssnet", config, self.device)
        self.recnet, self.recnet_manifest = zoo.load_model("recnet", config, self.device)
        self.recnet = netrun.channels_last(self.recnet)
        self.fingerprint = zoo.fingerprint(["ssnet", "recnet"], config)

    @classmethod
    def from_modules(cls, ssnet: torch.nn.Module, recnet: torch.nn.Module,
                     fingerprint: bytes = b"test") -> SmicNets:
        """Wrap given modules (tests with random weights)."""
        self = cls.__new__(cls)
        self.config, self.device = "custom", torch.device("cpu")
        self.ssnet, self.recnet = ssnet.eval(), recnet.eval()
        self.fingerprint = fingerprint
        return self

    def segment(self, image: np.ndarray) -> np.ndarray:
        """SS-Net(x): HxW uint8 class map."""
        h, w = image.shape[:2]
        x = image_to_tensor(image) / 127.5 - 1
        ssnet = module_on(self.ssnet, self.analysis_device, vars(self).setdefault("_copies", {}))
        dev = self.analysis_device if self.analysis_device.type != "cpu" else self.device
        with fixed_threads():
            labels = tiled(lambda t: ssnet.predict(t.to(dev)).to(torch.uint8).cpu(),
                           [(x, UNIT)], UNIT, h, w, tile=netrun.TILE, halo=SSNET_HALO)
        return np.ascontiguousarray(labels[0].numpy())

    def reconstruct(self, small: np.ndarray, factor: int, seg: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(Rec-Net output, bicubic up-sampling) as HxWx3 uint8 from layer 2 and the map."""
        from app.nets.smic import one_hot, upsample

        h, w = seg.shape
        s = torch.from_numpy(seg.astype(np.int64))[None]

        def rec(up_t: torch.Tensor, s_t: torch.Tensor) -> torch.Tensor:
            return self.recnet(up_t.to(self.device), one_hot(s_t).to(self.device)).cpu()

        with fixed_threads():
            up = upsample(image_to_tensor(small) / 127.5 - 1, factor, h, w).contiguous()
            out = tiled(rec, [(up, UNIT), (s, UNIT)], UNIT, h, w, tile=netrun.TILE,
                        halo=RECNET_HALO)
        return to_uint8_image(out), to_uint8_image(up)


@functools.cache
def shared_nets(config: str = "lite", device: str = "cpu") -> SmicNets:
    """One loaded SS-Net + Rec-Net per configuration and device, shared by the pipelines."""
    return SmicNets(config, device)


@dataclass
class MapLayer:
    layer: Layer
    qp: int | None  # HEVC QP of the map layer, None = lossless
    labels: np.ndarray  # the full-size map the decoder rebuilds from the layer


@dataclass
class SmicPrepared:
    image: np.ndarray
    seg: np.ndarray  # SS-Net's full-resolution map
    maps: dict[int, MapLayer] = field(default_factory=dict)  # map_scale -> layer 1
    sampled: dict[int, np.ndarray] = field(default_factory=dict)  # factor -> down-sampled


class SmicPipeline(NetsOwner, Pipeline):
    """SMIC: semantic map (layer 1) + HEVC-coded sampled image (layer 2) -> Rec-Net."""

    spec = SMIC

    def __init__(self, config: str = "lite", device: str = "cpu",
                 nets: SmicNets | None = None) -> None:
        self.nets = nets if nets is not None else shared_nets(config, device)

    def prepare(self, image: np.ndarray) -> SmicPrepared:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise PipelineError("smic: expected an HxWx3 uint8 image")
        self.report("segmentation")
        return SmicPrepared(image, self.nets.segment(image))

    def map_layer(self, prepared: SmicPrepared, m: int) -> MapLayer:
        """Layer 1 at 1/m resolution (cached per m) and the decoder's view of it."""
        if m not in prepared.maps:
            self.report("semantic map coding")
            codec_id, data, qp = encode_semantic_map(pool_labels(prepared.seg, m))
            h, w = prepared.seg.shape
            # the decoder's view of layer 1, rebuilt from the layer itself
            labels = unpool_labels(decode_semantic_map(codec_id, data), m, h, w)
            prepared.maps[m] = MapLayer(Layer(LayerKind.SEMANTIC_MAP, codec_id, data), qp,
                                        labels)
        return prepared.maps[m]

    def encode_prepared(self, prepared: SmicPrepared, params: dict[str, int]) -> Encoded:
        from app.nets.smic import downsample

        params = self.check_params(params)
        f, qp = params["factor"], params["qp"]
        smap = self.map_layer(prepared, params["map_scale"])
        if f not in prepared.sampled:
            prepared.sampled[f] = downsample(prepared.image, f)
        self.report("sampled image coding")
        data = hevc(qp, chroma=444).encode(prepared.sampled[f])
        small = decode_layer(CODEC_ID_HEVC, data)
        self.report("synthesis")
        recon, up = self.nets.reconstruct(small, f, smap.labels)
        h, w = prepared.image.shape[:2]
        return self.encoded(
            h, w, params,
            [smap.layer, Layer(LayerKind.COMPACT_IMAGE, CODEC_ID_HEVC, data)], recon,
            views={"segmentation": View(ViewKind.SEGMENTATION, smap.labels, overlay=True),
                   "segmentation_full": View(ViewKind.SEGMENTATION, prepared.seg),
                   "compact": View(ViewKind.IMAGE, small), "upsampled": View(ViewKind.IMAGE, up),
                   "prediction": View(ViewKind.IMAGE, recon)})

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The image and the class map of layer 1 it was rebuilt from."""
        from app.nets.smic import sampled_size

        by_kind = layers_by_kind(self.name, encoded.layers,
                                 (LayerKind.SEMANTIC_MAP, LayerKind.COMPACT_IMAGE))
        missing = {p.name for p in self.params} - set(encoded.params)
        if missing:
            raise PipelineError(f"{self.name}: the file lacks parameter(s) {sorted(missing)}")
        params = self.check_params(encoded.params)
        f, m, h, w = params["factor"], params["map_scale"], encoded.height, encoded.width
        seg = decode_semantic_map(by_kind[LayerKind.SEMANTIC_MAP].codec_id,
                                  by_kind[LayerKind.SEMANTIC_MAP].data)
        if seg.shape != sampled_size(h, w, m):
            raise PipelineError(f"{self.name}: semantic map is {seg.shape}, expected "
                                f"{sampled_size(h, w, m)} for a {w}x{h} image at map_scale {m}")
        seg = unpool_labels(seg, m, h, w)
        small = decode_layer(by_kind[LayerKind.COMPACT_IMAGE].codec_id,
                             by_kind[LayerKind.COMPACT_IMAGE].data)
        expected = (*sampled_size(h, w, f), 3)
        if small.shape != expected or small.dtype != np.uint8:
            raise PipelineError(f"{self.name}: sampled image is {small.shape}, expected "
                                f"{expected} for factor {f}")
        return self.nets.reconstruct(small, f, seg)[0], {
            "segmentation": View(ViewKind.SEGMENTATION, seg, overlay=True)}
