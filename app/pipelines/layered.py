"""The layered scheme shared by DSSLIC and EDMS (DSSLIC Algorithm 1).

Encoder: segmentation s, compact image c = CompNet(x, s) (the base layer, alpha = 8),
prediction x' = RecNet(s, c) = c' + FineNet(s, c'), residual r = (x - x' + 255) / 2 coded
by HEVC 4:4:4 at the chosen QP. Decoder: x_hat = x' + 2 r_hat - 255. The ``-pf``
pipelines (our extension) end with PostNet, blended in per 64x64 block at one of four
strengths (off, 3/8, 5/8, full) that the encoder chooses against the original and sends
as a side-information layer (:func:`post_filter_encode` / :func:`post_filter_decode`, also
used by ``hevc-pf`` and ``hevc-spf``).

Everything up to x' does not depend on the QP of the residual, so :meth:`prepare` runs the
networks once per image and :meth:`encode_prepared` only codes the residual. In the
*lossy-base* mode (our extension, see docs/pipelines.md) the base layer is coded by HEVC
at ``qp - base_dqp`` and the encoder computes x' from the *decoded* base, exactly as the
decoder will; predictions are cached per base QP. The lossy-base pipelines also code the
residual without the halving, r = 2 (x - x') + 512, as a 10-bit HEVC layer (the decoder tells
the two residual forms apart by the decoded sample depth).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.cancel import check_cancelled
from app.codecs import CODEC_ID_HEVC, decode_layer, encode_smallest_lossless, hevc
from app.errors import PipelineError
from app.pipelines.base import (
    Encoded,
    Layer,
    LayerKind,
    ParamSpec,
    Pipeline,
    View,
    ViewKind,
    layers_by_kind,
)

MIN_SIDE = 64  # networks see at least this many pixels per side (instance norm needs >1x1)

POST_BLOCK = 64  # pixels: PostNet's strength is chosen per 64x64 block, like an HEVC CTU

QP_SPEC = ParamSpec("qp", "QP", 0, 51, 32, (22, 27, 32, 37, 42, 47), False)
BASE_DQP_SPEC = ParamSpec("base_dqp", "base QP offset", 0, 30, 8, (8,), False)


def residual_encode(image: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """r = round((x - x' + 255) / 2) in 0..255 (DSSLIC §3.1, Algorithm 1)."""
    d = image.astype(np.int16) - prediction.astype(np.int16) + 256
    return (d >> 1).astype(np.uint8)  # (x - x' + 256) // 2 == round half up of (.. + 255)/2


def residual_encode10(image: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """r = 2 (x - x') + 512 in 2..1022, uint16 for a 10-bit HEVC layer (our extension).

    Relative to the 10-bit range this has the amplitude of Algorithm 1's halved 8-bit
    residual, so a QP means about the same in both forms, but no bit is thrown away (the
    halving caps the quality at high rates)."""
    d = image.astype(np.int16) - prediction.astype(np.int16)
    return (2 * d + 512).astype(np.uint16)


def residual_apply(prediction: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """x_hat = clip(x' + 2 r - 255) (Algorithm 1, DECODE) for the 8-bit halved residual;
    x_hat = clip(x' + round((r - 512) / 2)) for the 10-bit one (halves rounded up; the two
    forms are told apart by the decoded dtype)."""
    if residual.dtype == np.uint16:
        v = prediction.astype(np.int32) + ((residual.astype(np.int32) - 511) >> 1)
    else:
        v = prediction.astype(np.int16) + 2 * residual.astype(np.int16) - 255
    return np.clip(v, 0, 255).astype(np.uint8)


def amplify_residual(residual: np.ndarray, gain: int = 4) -> np.ndarray:
    """A viewable residual: 128 + gain * (r - 128), clipped (for the layer inspector);
    the 10-bit residual is shown on the same scale of x - x'."""
    v: np.ndarray
    if residual.dtype == np.uint16:
        v = 128 + gain * (residual.astype(np.int32) - 512) // 4
    else:
        v = 128 + gain * (residual.astype(np.int16) - 128)
    return np.clip(v, 0, 255).astype(np.uint8)


def _block_sse(image: np.ndarray, other: np.ndarray, block: int) -> np.ndarray:
    """Sum of squared differences per ``block`` x ``block`` block (int64), one row of
    blocks at a time so that a 24-megapixel image needs no full-size int32 temporaries."""
    h, w = image.shape[:2]
    bh, bw = -(-h // block), -(-w // block)
    out = np.zeros((bh, bw), np.int64)
    for by in range(bh):
        rows = slice(by * block, min(h, (by + 1) * block))
        d = other[rows].astype(np.int32) - image[rows].astype(np.int32)
        e = (d * d).sum(axis=(0, 2), dtype=np.int64)  # per column
        e = np.pad(e, (0, bw * block - w))
        out[by] = e.reshape(bw, block).sum(axis=1)
    return out


POST_LEVELS = (0, 3, 5, 8)  # PostNet strengths per block, in eighths: off, 3/8, 5/8, full


def _blend(x16: np.ndarray, d: np.ndarray, w8: np.ndarray | int) -> np.ndarray:
    """x_hat + round(w8/8 * (filtered - x_hat)) in integers (the same on every machine),
    from x16 = x_hat and d = filtered - x_hat as int16; ``w8`` broadcasts over (rows,
    columns). Stays between the two images, so in 0..255."""
    w = np.asarray(w8, np.int16)
    w = w[..., None] if w.ndim == 2 else w
    return (x16 + ((w * d + 4) >> 3)).astype(np.uint8)


def _as_blend_inputs(x_hat: np.ndarray, filtered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x16 = x_hat.astype(np.int16)
    return x16, filtered.astype(np.int16) - x16


def post_filter_levels(image: np.ndarray, x_hat: np.ndarray, filtered: np.ndarray,
                       block: int = POST_BLOCK) -> np.ndarray:
    """Encoder side: for every ``block`` x ``block`` block, the index into
    :data:`POST_LEVELS` of the strength whose blend of x_hat and the filtered image has the
    smallest squared error against the original (ties: the weaker; uint8, one per block).

    Encoder-chosen filter switches per coding block are how in-loop and post filters are
    used in video codecs (HEVC's SAO, VVC's ALF and its CNN filter proposals): the filter
    can then never make a block worse, whatever content it was trained on. Strengths
    between off and full matter on content unlike the training data (photographs for a
    CamVid-trained PostNet), where the full correction overshoots."""
    h = image.shape[0]
    out = np.zeros((-(-h // block), -(-image.shape[1] // block)), np.uint8)
    for by in range(out.shape[0]):  # a row of blocks at a time: bounded memory at 24 MP
        check_cancelled()
        rows = slice(by * block, min(h, (by + 1) * block))
        x16, d = _as_blend_inputs(x_hat[rows], filtered[rows])  # once for all strengths
        sse = np.stack([_block_sse(image[rows], _blend(x16, d, w), block)
                        for w in POST_LEVELS])
        out[by] = sse.argmin(axis=0)[0]  # argmin keeps the first (weakest) of ties
    return out


def pack_levels(levels: np.ndarray) -> np.ndarray:
    """Block strength indices as 2 bits each, 4 blocks per byte (row-major, high bits
    first; a 1 x ceil(n/4) uint8 array)."""
    v = levels.ravel().astype(np.uint8)
    return np.packbits(np.stack([v >> 1, v & 1], axis=1).ravel())[None]


def unpack_levels(packed: np.ndarray, blocks: tuple[int, int], name: str) -> np.ndarray:
    """Inverse of :func:`pack_levels` for a ``blocks`` grid; PipelineError if it does not
    fit."""
    n = blocks[0] * blocks[1]
    if packed.shape != (1, -(-n // 4)) or packed.dtype != np.uint8:
        raise PipelineError(f"{name}: post-filter levels are {packed.shape} {packed.dtype}, "
                            f"expected {n} x 2 bits for {blocks[0]}x{blocks[1]} blocks")
    bits = np.unpackbits(packed[0])[: 2 * n].reshape(n, 2)
    return (2 * bits[:, 0] + bits[:, 1]).reshape(blocks)


def apply_post_levels(x_hat: np.ndarray, filtered: np.ndarray, levels: np.ndarray,
                      block: int = POST_BLOCK) -> np.ndarray:
    """x_hat blended with the filtered image at each block's strength, one row of blocks
    at a time (no full-size int16 temporaries at 24 megapixels)."""
    h, w = x_hat.shape[:2]
    weights = np.asarray(POST_LEVELS, np.int16)[levels]
    out = x_hat.copy()
    for by in range(levels.shape[0]):
        rows = slice(by * block, min(h, (by + 1) * block))
        if not levels[by].any():
            continue
        wrow = np.repeat(weights[by], block)[None, :w]
        out[rows] = _blend(*_as_blend_inputs(x_hat[rows], filtered[rows]), wrow)
    return out


def post_filter_encode(image: np.ndarray, x_hat: np.ndarray, filtered: np.ndarray
                       ) -> tuple[Layer, np.ndarray, dict[str, View]]:
    """Encoder side of a post-filter with per-block strengths (shared by the ``-pf``
    pipelines and ``hevc-pf`` / ``hevc-spf``): the strengths chosen against the original,
    the SIDE_INFO layer that carries them, the blended reconstruction and its views."""
    levels = post_filter_levels(image, x_hat, filtered)
    codec_id, data = encode_smallest_lossless(pack_levels(levels))
    recon = apply_post_levels(x_hat, filtered, levels)
    return (Layer(LayerKind.SIDE_INFO, codec_id, data), recon,
            post_filter_views(x_hat, recon, levels))


def post_filter_views(x_hat: np.ndarray, recon: np.ndarray,
                      levels: np.ndarray) -> dict[str, View]:
    """The image before the post-filter and the filter's strength per block (full
    brightness where it is full, dimmed to a third where it is off): the same views on
    both sides."""
    return {"before_post_filter": View(ViewKind.IMAGE, x_hat),
            "post_filter_blocks": View(ViewKind.BLOCK_MAP,
                                       apply_post_levels(recon // 3, recon, levels))}


def post_filter_decode(name: str, x_hat: np.ndarray, side: Layer,
                       run_filter: Callable[[], np.ndarray]
                       ) -> tuple[np.ndarray, dict[str, View]]:
    """Decoder side of :func:`post_filter_encode`: x_hat blended with ``run_filter()`` at
    the strengths of the ``side`` layer (the filter is not run when every block is off),
    and the encoder's views of it."""
    h, w = x_hat.shape[:2]
    levels = unpack_levels(decode_layer(side.codec_id, side.data),
                           (-(-h // POST_BLOCK), -(-w // POST_BLOCK)), name)
    # the encoder found the filter useless everywhere: skip it
    recon = apply_post_levels(x_hat, run_filter(), levels) if levels.any() else x_hat
    return recon, post_filter_views(x_hat, recon, levels)


def padded_size(height: int, width: int) -> tuple[int, int]:
    """Size the networks work at: small images are edge-padded up to MIN_SIDE."""
    return max(height, MIN_SIDE), max(width, MIN_SIDE)


def pad_image(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    ph, pw = padded_size(h, w)
    if (ph, pw) == (h, w):
        return image
    return np.pad(image, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")


@dataclass
class BaseState:
    """Everything up to x' for one base-layer setting."""

    layers: list[Layer]
    prediction: np.ndarray
    views: dict[str, View]


@dataclass
class LayeredPrepared:
    image: np.ndarray
    analysis: dict[str, Any]  # networks' QP-independent outputs (s, c8, ...)
    bases: dict[int, BaseState] = field(default_factory=dict)  # key: base QP, -1 lossless


class LayeredPipeline(Pipeline):
    """Common encode/decode of the layered pipelines; subclasses supply the networks."""

    lossy_base: bool = False
    residual_10bit: bool = False  # our extension: r = x - x' + 512, 10-bit HEVC, no halving
    use_post_filter: bool = False  # our extension (-pf): PostNet after x_hat, block levels
    params = (QP_SPEC,)

    # --- subclass hooks -----------------------------------------------------------
    def analyse(self, image: np.ndarray) -> dict[str, Any]:
        """Run the encoder-side networks once (must set ``c8``, the compact image)."""
        raise NotImplementedError

    def side_layers(self, analysis: dict[str, Any]) -> list[Layer]:
        """Layers other than the base and residual (DSSLIC: the segmentation map)."""
        return []

    def predict(self, c8: np.ndarray, side: dict[str, Any], height: int, width: int
                ) -> tuple[np.ndarray, dict[str, View]]:
        """x' (HxWx3 uint8) from the decoded base ``c8`` and side info, plus views."""
        raise NotImplementedError

    def side_from_layers(self, layers: dict[LayerKind, Layer]) -> dict[str, Any]:
        return {}

    def post_filter(self, x_hat: np.ndarray, prediction: np.ndarray, qp: int) -> np.ndarray:
        """The ``-pf`` pipelines' filtered x_hat (PostNet); blended in at the strengths the
        file's block levels give. Must be deterministic: the encoder runs it too."""
        raise NotImplementedError

    # --- Pipeline API --------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> LayeredPrepared:
        return LayeredPrepared(image=image, analysis=self.analyse(pad_image(image)))

    def _base(self, prep: LayeredPrepared, base_qp: int) -> BaseState:
        if base_qp in prep.bases:
            return prep.bases[base_qp]
        h, w = prep.image.shape[:2]
        ph, pw = padded_size(h, w)
        c8 = prep.analysis["c8"]
        self.report("base layer coding")
        if base_qp < 0:
            codec_id, data = encode_smallest_lossless(c8)
            c8_dec = c8
        else:
            data = hevc(base_qp, chroma=444).encode(c8)
            codec_id = CODEC_ID_HEVC
            c8_dec = decode_layer(codec_id, data)
        base_layer = Layer(LayerKind.COMPACT_IMAGE, codec_id, data)
        side = self.side_layers(prep.analysis)
        # the decoder's view of the side information, rebuilt from the layers themselves
        side_info = self.side_from_layers({LayerKind(lay.kind): lay for lay in side})
        prediction, views = self.predict(c8_dec, side_info, ph, pw)
        prediction = np.ascontiguousarray(prediction[:h, :w])
        views = {k: v.crop(h, w) if v.array.shape[:2] == (ph, pw) else v
                 for k, v in {**prep.analysis.get("views", {}), **views}.items()}
        views["compact"] = View(ViewKind.IMAGE, c8_dec)
        state = BaseState(layers=[*side, base_layer], prediction=prediction, views=views)
        prep.bases[base_qp] = state
        return state

    def encode_prepared(self, prepared: Any, params: dict[str, int]) -> Encoded:
        prep: LayeredPrepared = prepared
        qp = params["qp"]
        base_qp = max(0, qp - params["base_dqp"]) if self.lossy_base else -1
        base = self._base(prep, base_qp)
        self.report("residual coding")
        if self.residual_10bit:
            r = residual_encode10(prep.image, base.prediction)
            r_data = hevc(qp, chroma=444, bit_depth=10).encode(r)
        else:
            r = residual_encode(prep.image, base.prediction)
            r_data = hevc(qp, chroma=444).encode(r)
        r_dec = decode_layer(CODEC_ID_HEVC, r_data)
        recon = residual_apply(base.prediction, r_dec)
        h, w = prep.image.shape[:2]
        views = {**base.views, "prediction": View(ViewKind.IMAGE, base.prediction),
                 "residual": View(ViewKind.RESIDUAL, amplify_residual(r_dec))}
        layers = [*base.layers, Layer(LayerKind.RESIDUAL, CODEC_ID_HEVC, r_data)]
        if self.use_post_filter:
            filtered = self.post_filter(recon, base.prediction, qp)
            side_layer, recon, post_views = post_filter_encode(prep.image, recon, filtered)
            layers.append(side_layer)
            views.update(post_views)
        return self.encoded(h, w, params, layers, recon, views)

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """x̂ and the encoder's views of it: the prediction's (the class map it used, ...),
        the prediction, the residual and the post-filter's."""
        required: tuple[LayerKind, ...] = (LayerKind.COMPACT_IMAGE, LayerKind.RESIDUAL)
        if self.use_post_filter:
            required = (*required, LayerKind.SIDE_INFO)
        by_kind = layers_by_kind(self.name, encoded.layers, required)
        h, w = encoded.height, encoded.width
        ph, pw = padded_size(h, w)
        c8 = decode_layer(by_kind[LayerKind.COMPACT_IMAGE].codec_id,
                          by_kind[LayerKind.COMPACT_IMAGE].data)
        expected_c = (-(-ph // 8), -(-pw // 8), 3)
        if c8.shape != expected_c or c8.dtype != np.uint8:
            raise PipelineError(f"{self.name}: compact image is {c8.shape}, expected {expected_c}")
        side = self.side_from_layers(by_kind)
        prediction, predicted_views = self.predict(c8, side, ph, pw)
        views = {k: v.crop(h, w) for k, v in predicted_views.items()}
        prediction = prediction[:h, :w]
        r = decode_layer(by_kind[LayerKind.RESIDUAL].codec_id, by_kind[LayerKind.RESIDUAL].data)
        if r.shape != (h, w, 3) or r.dtype not in (np.uint8, np.uint16):
            raise PipelineError(f"{self.name}: residual is {r.shape}, expected {(h, w, 3)}")
        x_hat = residual_apply(prediction, r)
        views["prediction"] = View(ViewKind.IMAGE, prediction)
        views["residual"] = View(ViewKind.RESIDUAL, amplify_residual(r))
        if not self.use_post_filter:
            return x_hat, views
        qp = int(encoded.params.get("qp", QP_SPEC.default))
        recon, post_views = post_filter_decode(
            self.name, x_hat, by_kind[LayerKind.SIDE_INFO],
            lambda: self.post_filter(x_hat, prediction, qp))
        return recon, {**views, **post_views}
