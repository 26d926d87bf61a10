"""DeepSIC with the paper's own network and coder, as ``deepsic-bp-pre`` and
``deepsic-bp-post`` (Luo, Yang, Song; Fig. 2, §III-A-C). The shipped ``deepsic-pre`` /
``deepsic-post`` share f and g with a learned transform coder instead
(:mod:`app.pipelines.deepsic`).

Bitstream (one ``.edms`` file):

- ``deepsic-bp-pre`` only: a SIDE_INFO layer with the top-5 classes and their quantised
  probabilities, computed by the semantic head on the float features in the encoder
  (§III-D; :mod:`app.pipelines.classlayer`, codec id 10), readable without decoding;
- a LATENT layer: the first K channels of the 6-bit feature codes (Eq. 1), coded bit plane
  by bit plane with the learned context model (:mod:`app.entropy.binary`, codec id 11).

``deepsic-bp-post`` carries only the features; its decoder runs the head on the dequantised
features (Fig. 2b). Both decoders return the image and the top-5 classes (the ``classes``
and ``class_probabilities`` views, see :mod:`app.pipelines.classlayer`), plus the
``bits`` view: the bits spent per 8x8 block (−log2 P of every coded bit, summed over
channels and planes).

Rate parameter ``rate``: the operating point, the share of the code's channels kept
(1: 1/16, 2: 1/8, 3: 1/4, 4: 1/2, 5: all; the network is trained for these with nested channel
dropout, :mod:`app.nets.deepsic`); the channels not kept decode as zero features.

Bit-exactness: the codes are integers; the context probabilities are integer table
look-ups; the reconstruction network and the post-semantic head run on the CPU in float32
with :data:`app.pipelines.netrun.INFERENCE_THREADS` threads, identically in encoder and
decoder, and the encoder's reconstruction is computed from the integer codes by the
decoder's own path.

Any image size: padded (replicate) to a multiple of the network's subsampling (8 for the
shipped configurations) and cropped back. The analysis and reconstruction run in tiles of
64 x 64 feature samples with a halo of 8 (computed and thrown away); the tiling depends
only on the image size. The head sees the whole feature map (global pooling).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from app.entropy import binary
from app.errors import PipelineError
from app.nets import deepsic as ds
from app.pipelines import classlayer
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline, View, ViewKind
from app.pipelines.classify import Top5Classifier, shared
from app.pipelines.deepsic_spec import CODEC_ID_BITPLANES, DEEPSIC_BP_POST, DEEPSIC_BP_PRE
from app.pipelines.endtoend import tiled_latent, to_uint8
from app.pipelines.netrun import fixed_threads

TILE = 64  # feature samples per tile side
HALO = 8  # feature samples of margin around each tile


@dataclass
class Prepared:
    """The rate-independent part of the encoder."""

    image: np.ndarray
    codes: torch.Tensor  # (1, C, H/S, W/S) integer codes k (float32), every channel
    probabilities: np.ndarray | None  # deepsic-pre: softmax of the head on f(x)


def weights_for(variant: str, config: str, stem: str = "deepsic-bp") -> str:
    """``<stem>-<variant>`` if such weights are installed, else the shared ``<stem>``."""
    from app.nets import zoo

    own = f"{stem}-{variant}"
    return own if (zoo.models_dir() / f"{own}-{config}.json").exists() else stem


class BitplaneDeepsicPipeline(Pipeline):
    """Shared by ``deepsic-bp-pre`` and ``deepsic-bp-post``; subclasses set ``variant``."""

    variant: ClassVar[str]

    def __init__(self, model: ds.DeepSIC | None = None, fingerprint: bytes = b"",
                 config: str = "lite") -> None:
        if model is None:
            from app.nets import zoo

            name = weights_for(self.variant, config)
            model, _ = zoo.load_model(name, config)
            fingerprint = zoo.fingerprint(name, config)
        net: Any = model  # its parts are looked up dynamically
        if self.variant not in net.heads:
            raise PipelineError(f"{self.name}: the network has no {self.variant} head")
        self.model: Any = net.eval()
        self._fingerprint = fingerprint
        self.contexts = binary.ContextModel.from_table(self.model.context_table.numpy(),
                                                       self.model.channels)

    @property
    def model_fingerprint(self) -> bytes:
        return self._fingerprint

    def kept(self, params: dict[str, int]) -> int:
        return ds.kept_channels(self.model.channels,
                                ds.CHANNEL_FRACTIONS[int(params["rate"]) - 1])

    def _grid(self, h: int, w: int) -> tuple[int, int]:
        s = self.model.stride
        return -(-h // s), -(-w // s)

    # -- encoder ---------------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> Prepared:
        self.report("feature extraction")
        h, w = image.shape[:2]
        hl, wl = self._grid(h, w)
        s = self.model.stride
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        x = F.pad(x.div_(255.0), (0, wl * s - w, 0, hl * s - h), mode="replicate")
        with fixed_threads():
            f = tiled_latent(self.model.features, [(x, s)], 1, hl, wl, TILE, HALO)
            probs = None
            if self.variant == "pre":
                self.report("semantic analysis")
                probs = self.model.classify("pre", f)[0].double().numpy()
            codes = ds.quantise(f)
        return Prepared(image, codes, probs)

    def encode_prepared(self, prepared: Prepared, params: dict[str, int]) -> Encoded:
        h, w = prepared.image.shape[:2]
        kept = self.kept(params)
        codes = prepared.codes.clone()
        codes[:, kept:] = 0
        self.report("entropy coding")
        u = binary.to_symbols(codes[0, :kept].to(torch.int64).numpy())
        layers = []
        views: dict[str, View] = {}
        if self.variant == "pre":
            assert prepared.probabilities is not None
            layers.append(classlayer.layer(prepared.probabilities))
            views.update(classlayer.views(classlayer.unpack(layers[0].data)))
        layers.append(Layer(LayerKind.LATENT, CODEC_ID_BITPLANES,
                            binary.encode(u, self.contexts)))
        views["bits"] = self._bits_view(u, h, w)
        self.report("reconstruction")
        recon = self._reconstruct(codes, kept, h, w, views)
        return self.encoded(h, w, params, layers, recon, views)

    def _reconstruct(self, codes: torch.Tensor, kept: int, h: int, w: int,
                     views: dict[str, View]) -> np.ndarray:
        """Integer codes of ``kept`` channels -> decoded image; the post head's classes
        into ``views`` (both run at the operating point of ``kept``)."""
        hl, wl = codes.shape[-2:]
        with fixed_threads():
            x = tiled_latent(lambda k: self.model.reconstruct(k, kept), [(codes, 1)],
                             self.model.stride, hl, wl, TILE, HALO)
            if self.variant == "post":
                probs = self.model.classify("post", ds.dequantise(codes), kept
                                            )[0].double().numpy()
                views.update(classlayer.views(classlayer.unpack(classlayer.pack(probs))))
        return to_uint8(x, h, w)

    def _bits_view(self, u: np.ndarray, h: int, w: int) -> View:
        """Bits per feature sample (one per ``stride`` x ``stride`` block) as a bit map."""
        stride = int(self.model.stride)
        return View(ViewKind.BIT_MAP, binary.bit_costs(u, self.contexts),
                    scale=stride).crop(h, w)

    # -- decoder ---------------------------------------------------------------------------
    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The decoded image and its views (classes, class probabilities, bits map)."""
        params = self.check_params(encoded.params)
        expected = ([(LayerKind.SIDE_INFO, classlayer.CODEC_ID_CLASSES)]
                    if self.variant == "pre" else [])
        expected.append((LayerKind.LATENT, CODEC_ID_BITPLANES))
        if [(int(la.kind), la.codec_id) for la in encoded.layers] != [
                (int(k), c) for k, c in expected]:
            raise PipelineError(f"{self.name}: unexpected layers in the file")
        views: dict[str, View] = {}
        if self.variant == "pre":
            views.update(classlayer.views(classlayer.unpack(encoded.layers[0].data)))
        h, w = encoded.height, encoded.width
        hl, wl = self._grid(h, w)
        kept = self.kept(params)
        u = binary.decode(encoded.layers[-1].data, (kept, hl, wl), self.contexts)
        views["bits"] = self._bits_view(u, h, w)
        codes = torch.zeros(1, self.model.channels, hl, wl)
        codes[0, :kept] = torch.from_numpy(binary.from_symbols(u).astype(np.float32))
        return self._reconstruct(codes, kept, h, w, views), views


class BitplanePrePipeline(BitplaneDeepsicPipeline):
    spec = DEEPSIC_BP_PRE
    variant = "pre"


class BitplanePostPipeline(BitplaneDeepsicPipeline):
    spec = DEEPSIC_BP_POST
    variant = "post"


class ReferenceClassifier(Top5Classifier):
    """``deepsic-ref``: DeepSIC's feature extraction and ``pre`` head trained for
    classification alone on uncompressed images (``edms train deepsic --variant
    reference``), the reference rows of the paper's Table I: a classifier of the same size
    as the codec's, run on originals or on images decoded by another codec."""

    def __init__(self, config: str = "lite") -> None:
        from app.nets import zoo

        model, _ = zoo.load_model("deepsic-ref", config)
        self.model: Any = model

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        s = self.model.stride
        hl, wl = -(-h // s), -(-w // s)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        x = F.pad(x.div_(255.0), (0, wl * s - w, 0, hl * s - h), mode="replicate")
        with torch.no_grad(), fixed_threads():
            f = tiled_latent(self.model.features, [(x, s)], 1, hl, wl, TILE, HALO)
            return self.model.classify("pre", f)[0].double().numpy()


def deepsic_reference(config: str = "lite") -> Callable[[np.ndarray], list[int]]:
    """The ``deepsic-ref`` reference network (its top-5 class indices)."""
    return shared(ReferenceClassifier, config).top5
