"""End-to-end learned codecs: the shared encoder/decoder of ``hyperprior`` and ``menet``.

Bitstream (all learned, no HEVC inside), one ``.edms`` file:

- a SIDE_INFO layer: the hyper-latent ẑ, each channel coded with its factorized-prior
  table (Ballé et al. 2018, appendix 6.1);
- one LATENT layer per latent part (``hyperprior``: ŷ; ``menet``: ŷ = z_x and the semantic
  latent ẑ_s), each element coded with the Gaussian table of its scale index, the scales
  coming from h_s(ẑ) (§3 of Ballé et al.);
- with a checkerboard context (:mod:`app.nets.checkerboard`, the shipped weights), the
  anchors ((i + j) even) are coded first, with σ and μ from h_s(ẑ) alone, then the
  non-anchors, whose σ and μ also see the anchors of *every* part (the decoder decodes
  all the anchors first).
  μ is quantised to 1/MEAN_STEPS: its integer part is subtracted from ŷ before coding and
  its fraction picks the table (one per scale index and fraction); ŷ itself stays the
  rounded latent, so the means change the bits, never the image;
- with channel groups (ELIC's uneven split, the same module), each pass codes the groups
  one after the other, each group's σ and μ also seeing the groups before it at the same
  position;
- each LATENT layer is one rANS stream of its coding steps (pass, group) in coding order
  (:class:`app.entropy.coder.StackEncoder`); a stream holding symbols beyond the last
  step is refused. (Pipeline version 4 wrote one stream per step, each but the last
  preceded by its byte length: 80 bytes a file, 6 % of a 451x300 photograph's file at
  the lowest quality.)
- optionally, last, a RESIDUAL layer: the edge offsets (:mod:`app.pipelines.edgeoffsets`),
  a few integers that correct the outer rows and columns of the synthesised image, which
  the encoder writes only where they pay (header parameter ``edges``; versions before it
  have none and decode unchanged);

all through :mod:`app.entropy.coder` (rANS, ``constriction``). The header's ``quality``
parameter selects the gain vectors (Cui et al. 2021).

Bit-exactness: the hyper-decoder h_s, the context and entropy-parameters networks, the
scale indices and quantised means, the probability tables and the synthesis run on the
CPU in float32 with :data:`app.pipelines.netrun.INFERENCE_THREADS` threads, identically
in encoder and decoder; the encoder's own reconstruction is computed
by that same decoding path from the integer latents.

Any image size: the image is padded (replicate) to a multiple of 16 (one latent sample)
and the result cropped back. Only the latent samples that cover the image are coded: the
hyper-analysis, which wants a multiple of 4 latent samples, sees the latent padded
(replicate) on the encoder's side only, and the hyper-decoder's scales are cropped to the
coded grid. (Pipeline versions before 4 padded the image to a multiple of 64 and coded
the latent of that padding too: 3-11 % of the bits of 300x451 to 427x640 photographs.)
Large images are analysed and synthesised in tiles of the latent (64 latent
samples = 1024 pixels, with a halo of 4 latent samples, computed and thrown away); the
tiling depends only on the image size, so encoder and decoder tile alike, and nothing
about it is in the bitstream (no bits are spent on tiles).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from app.cancel import checkpoint, interruptible
from app.codecs import CODEC_ID_RANS
from app.entropy import coder
from app.entropy.models import gaussian_table_set, scale_indices
from app.errors import PipelineError
from app.nets.checkerboard import MEAN_STEPS, anchor_mask
from app.nets.hyperprior import LAMBDAS
from app.pipelines import edgeoffsets
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline, View, ViewKind
from app.pipelines.endtoend_spec import HYPERPRIOR
from app.pipelines.netrun import fixed_threads, in_helper_thread, module_on

LATENT_SCALE = 16  # pixels per latent sample
HYPER_SCALE = 4  # latent samples per hyper-latent sample
TILE = 64  # latent samples per tile side (1024 pixels)
BAND = 64  # latent rows per band of the entropy-parameters network (even: anchor parity)
CONTEXT_HALO = 2  # rows the checkerboard context's 5x5 convolution sees (even)
HALO = 4  # latent samples of margin around each tile



def tiled_latent(fn: Callable[..., torch.Tensor], inputs: Sequence[tuple[torch.Tensor, int]],
                 out_scale: int, hl: int, wl: int, tile: int = TILE, halo: int = HALO
                 ) -> torch.Tensor:
    """Apply ``fn`` over a latent grid of ``hl`` x ``wl`` samples in tiles.

    ``inputs`` are ``(tensor, samples per latent sample)`` pairs (16 for images, 1 for
    latents); ``fn``'s output has ``out_scale`` samples per latent sample. Grids that fit
    one tile are processed whole.
    """
    call = in_helper_thread(fn)
    if hl <= tile and wl <= tile:
        whole = interruptible(call, *(t for t, _ in inputs))
        checkpoint(1, 1)
        return whole
    out: torch.Tensor | None = None
    starts = [(y0, x0) for y0 in range(0, hl, tile) for x0 in range(0, wl, tile)]
    for i, (y0, x0) in enumerate(starts):
        y1, x1 = min(y0 + tile, hl), min(x0 + tile, wl)
        ey0, ex0 = max(0, y0 - halo), max(0, x0 - halo)
        ey1, ex1 = min(hl, y1 + halo), min(wl, x1 + halo)
        o = interruptible(call, *(t[..., ey0 * s:ey1 * s, ex0 * s:ex1 * s]
                                  for t, s in inputs))
        if out is None:
            out = torch.empty(*o.shape[:-2], hl * out_scale, wl * out_scale,
                              dtype=o.dtype)
        s = out_scale
        out[..., y0 * s:y1 * s, x0 * s:x1 * s] = o[
            ..., (y0 - ey0) * s:(y1 - ey0) * s, (x0 - ex0) * s:(x1 - ex0) * s]
        checkpoint(i + 1, len(starts))  # a caller's stop request ends the work here
    assert out is not None
    return out


@dataclass
class Prepared:
    """The rate-independent part of the encoder: the un-gained latent of the padded image."""

    image: np.ndarray
    latent: torch.Tensor  # (1, C, H/16, W/16), float32


@functools.cache
def mean_tables() -> coder.TableSet:
    """The checkerboard codecs' tables: per scale index and fractional mean."""
    from app.entropy.models import GaussianConditional

    pairs = GaussianConditional().mean_tables(MEAN_STEPS)
    return coder.TableSet([f for f, _ in pairs], [o for _, o in pairs])


def bottleneck_tables(model: Any) -> coder.TableSet:
    from app.entropy.models import BOTTLENECK_RANGE

    with fixed_threads():
        freqs = model.entropy_bottleneck.tables()
    return coder.TableSet(freqs, [-BOTTLENECK_RANGE] * len(freqs))


def padded_size(h: int, w: int, multiple: int = LATENT_SCALE) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def hyper_size(hl: int, wl: int) -> tuple[int, int]:
    """The hyper-latent grid of a ``hl`` x ``wl`` latent: one sample per 4x4, rounded up."""
    return -(-hl // HYPER_SCALE), -(-wl // HYPER_SCALE)


def hyper_input(lat: torch.Tensor) -> torch.Tensor:
    """|latent| padded (replicate) to a multiple of :data:`HYPER_SCALE` for h_a: encoder
    side only, the padding is never coded (the decoder crops h_s's output instead)."""
    hl, wl = lat.shape[-2:]
    hz, wz = hyper_size(hl, wl)
    pad = (0, wz * HYPER_SCALE - wl, 0, hz * HYPER_SCALE - hl)
    return F.pad(lat.abs(), pad, mode="replicate") if any(pad) else lat.abs()


def to_uint8(x: torch.Tensor, h: int, w: int) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> HxWx3 uint8 (cropped, round half to even)."""
    v = torch.round(x[0, :, :h, :w].clamp(0, 1) * 255).to(torch.uint8)
    return np.ascontiguousarray(v.permute(1, 2, 0).numpy())


class EndToEndPipeline(Pipeline):
    """Shared by the learned codecs; subclasses set ``weights`` and the synthesis."""

    weights: ClassVar[str]
    #: names of the LATENT layers, in file order, and their channel counts (set per model)
    latent_parts: ClassVar[tuple[str, ...]] = ("y",)

    def __init__(self, model: torch.nn.Module | None = None, fingerprint: bytes = b"",
                 config: str = "lite") -> None:
        if model is None:
            from app.nets import zoo

            model, _ = zoo.load_model(self.weights, config)
            fingerprint = zoo.fingerprint(self.weights, config)
        # the network's own attributes (g_s, gains, M, ...) are looked up dynamically
        self.model: Any = model.eval()
        self._fingerprint = fingerprint
        self.z_tables = bottleneck_tables(self.model)

    @property
    def model_fingerprint(self) -> bytes:
        return self._fingerprint

    # -- the encoder's analysis may run on another device ----------------------------------
    _device = torch.device("cpu")

    def to(self, device: str) -> bool:
        """Run the analysis transform (``g_a``; MENet's analysis with its semantic
        branch) on ``device``: its output, rounded, is what the file codes, so the decoder
        reads it instead of recomputing it. Everything after it (h_a, h_s, the context,
        the synthesis that gives the encoder's reconstruction) stays on the CPU in
        float32, so the file decodes bit-exactly on any CPU (``docs/pipelines.md``,
        "Devices")."""
        self._device = torch.device(device)
        return True

    @property
    def analysis_device(self) -> str:
        return self._device.type

    def _analysis_model(self) -> Any:
        """The model itself on the CPU, else its copy on the analysis device."""
        return module_on(self.model, self._device, vars(self).setdefault("_copies", {}))

    # -- parts that subclasses specialise -------------------------------------------------
    def part_channels(self) -> tuple[int, ...]:
        return (int(self.model.M),)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self._analysis_model().g_a(x.to(self._device))
        return y.cpu()

    def synthesise(self, lat: torch.Tensor, h: int, w: int,
                   views: dict[str, View] | None, quality: torch.Tensor | None = None
                   ) -> np.ndarray:
        """De-gained latent -> decoded HxWx3 uint8 (and views, when asked for);
        ``quality``: the (1,) quality index it was decoded at."""
        hl, wl = lat.shape[-2:]
        x = tiled_latent(self.model.g_s, [(lat[:, : self.model.M], 1)], LATENT_SCALE, hl, wl)
        return to_uint8(x, h, w)

    #: (kind, codec id) of the layers a subclass writes before the hyper-latent
    leading_kinds: ClassVar[tuple[tuple[LayerKind, int], ...]] = ()

    def leading_layers(self, prepared: Prepared) -> tuple[list[Layer], dict[str, View]]:
        """Those layers for ``prepared`` and the views they carry (none here)."""
        return [], {}

    def read_leading(self, layers: list[Layer]) -> dict[str, View]:
        """The views of the leading layers of a file (their kinds already checked)."""
        return {}

    # -- the codec -------------------------------------------------------------------------
    def _quality(self, params: dict[str, int]) -> torch.Tensor:
        return torch.tensor([float(params["quality"] - 1)])

    def prepare(self, image: np.ndarray) -> Prepared:
        self.report("analysis")
        h, w = image.shape[:2]
        ph, pw = padded_size(h, w)
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        x = F.pad(x.div_(255.0), (0, pw - w, 0, ph - h), mode="replicate")
        with fixed_threads():
            lat = tiled_latent(self.analyse, [(x, LATENT_SCALE)], 1, ph // LATENT_SCALE,
                               pw // LATENT_SCALE)
        return Prepared(image, lat)

    def _scales(self, z_hat: torch.Tensor, hl: int, wl: int) -> torch.Tensor:
        return self.model.h_s(z_hat)[..., :hl, :wl]

    def encode_prepared(self, prepared: Prepared, params: dict[str, int]) -> Encoded:
        h, w = prepared.image.shape[:2]
        q = self._quality(params)
        views: dict[str, View] = {}
        with fixed_threads():
            gain, inv_gain = self.model.gains(q)
            lat = prepared.latent * gain
            hl, wl = lat.shape[-2:]
            self.report("hyper-latent")
            z_hat = torch.round(self.model.h_a(hyper_input(lat)))
            sigma_h = self._scales(z_hat, hl, wl)
            lat_hat = torch.round(lat)
            # each step's coding parameters exactly as the decoder derives them, from what
            # it has decoded before (the anchors' context from the anchors alone, ...)
            units = self._units()
            idx_all, shift_all = self._new_coding(sigma_h)
            bases: dict[int, list[torch.Tensor | None]] = {}
            for unit in units:
                self._fill_coding(sigma_h, lat_hat, unit, idx_all, shift_all, bases)
            del bases
        z_int = z_hat[0].to(torch.int64).numpy()
        z_idx = np.broadcast_to(np.arange(z_int.shape[0])[:, None, None], z_int.shape)
        self.report("entropy coding")
        layers, lead_views = self.leading_layers(prepared)
        views.update(lead_views)
        layers.append(Layer(LayerKind.SIDE_INFO, CODEC_ID_RANS,
                            coder.encode(z_int, z_idx, self.z_tables)))
        lat_int = lat_hat[0].to(torch.int64).numpy()
        lat_int -= shift_all  # the values coded: less their mean's integer part
        tables = self._tables()
        # one stream per layer; a stack, so the coding steps go in last first
        encoders = [coder.StackEncoder(tables) for _ in self.part_channels()]
        for unit in reversed(units):
            g = self._positions(unit, hl, wl)
            for enc, cs in zip(encoders, self._part_slices(unit), strict=True):
                if cs is not None:
                    enc.push(lat_int[cs[0]:cs[1]][:, g], idx_all[cs[0]:cs[1]][:, g])
        layers += [Layer(LayerKind.LATENT, CODEC_ID_RANS, enc.finish()) for enc in encoders]
        views["bits"] = self._bits_view(lat_int, idx_all, h, w)
        del lat_int, idx_all, shift_all
        self.report("synthesis")
        with fixed_threads():
            recon = self.synthesise(lat_hat * inv_gain, h, w, views, q)
        if params.get("edges", 0):
            self.report("edge offsets")
            payload, recon = edgeoffsets.choose(prepared.image, recon,
                                                LAMBDAS[params["quality"] - 1])
            if payload is not None:
                layers.append(Layer(LayerKind.RESIDUAL, CODEC_ID_RANS, payload))
        return self.encoded(h, w, params, layers, recon, views)

    # -- entropy parameters: the hyperprior's alone, or with the checkerboard context ------
    @property
    def _checkerboard(self) -> Any:
        return self.model.checkerboard

    def _tables(self) -> coder.TableSet:
        return gaussian_table_set() if self._checkerboard is None else mean_tables()

    def _units(self) -> list[tuple[int, int]]:
        """The coding steps, in order, as (pass, channel group): the whole latent at once
        (pass -1, no context model), or for each pass (0: anchors, 1: non-anchors) each
        channel group in turn (:mod:`app.nets.checkerboard`)."""
        cb = self._checkerboard
        if cb is None:
            return [(-1, 0)]
        return [(p, k) for p in (0, 1) for k in range(cb.groups)]

    def _unit_channels(self, unit: tuple[int, int]) -> tuple[int, int]:
        """The channel range [c0, c1) a coding step codes."""
        cb = self._checkerboard
        if cb is None:
            return 0, sum(self.part_channels())
        return cb.starts[unit[1]], cb.starts[unit[1] + 1]

    @staticmethod
    def _positions(unit: tuple[int, int], hl: int, wl: int) -> np.ndarray:
        """Boolean (hl, wl) mask of the positions a coding step codes."""
        if unit[0] < 0:
            return np.ones((hl, wl), dtype=bool)
        anchors = anchor_mask(hl, wl)[0, 0].numpy().astype(bool)
        return anchors if unit[0] == 0 else ~anchors

    def _part_slices(self, unit: tuple[int, int]) -> list[tuple[int, int] | None]:
        """For each latent part (LATENT layer), the channels of a coding step inside it
        ([c0, c1) of the whole latent), or None: that layer holds no stream for it."""
        g0, g1 = self._unit_channels(unit)
        out: list[tuple[int, int] | None] = []
        c0 = 0
        for c in self.part_channels():
            lo, hi = max(c0, g0), min(c0 + c, g1)
            out.append((lo, hi) if lo < hi else None)
            c0 += c
        return out

    @staticmethod
    def _new_coding(sigma_h: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Empty (table index, integer shift) arrays for every latent element, (C, hl, wl)
        int32 each, filled step by step by :meth:`_fill_coding`."""
        shape = tuple(sigma_h.shape[1:])
        return np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=np.int32)

    def _fill_coding(self, sigma_h: torch.Tensor, decoded: torch.Tensor,
                     unit: tuple[int, int], idx_out: np.ndarray, shift_out: np.ndarray,
                     bases: dict[int, list[torch.Tensor | None]]) -> None:
        """Write the (table index, integer shift) of the elements of coding step ``unit``.

        Without a context model the table is the scale index and the shift 0. With it,
        σ and μ come from the entropy-parameters network; ``decoded`` is the latent decoded
        so far (the encoder passes the whole rounded latent: only what the decoder has is
        read, the anchors for the non-anchors' spatial context, and the channels of the
        groups before at the position itself for the 1x1 channel context). μ is quantised
        to 1/MEAN_STEPS, its integer part is the shift subtracted before coding and its
        fraction selects the table. The network runs over bands of :data:`BAND` latent
        rows (the context's 5x5 convolution sees 2 rows of halo), chosen from the size
        alone, so encoder and decoder compute alike and a 24-megapixel latent does not hold
        the network's activations at once. ``bases`` caches each pass's first layer (it
        does not depend on the group) per band."""
        cb = self._checkerboard
        hl = sigma_h.shape[-2]
        c0, c1 = self._unit_channels(unit)
        pos = self._positions(unit, hl, sigma_h.shape[-1])
        p, k = unit
        if cb is None:
            for r0 in range(0, hl, BAND):
                r1 = min(hl, r0 + BAND)
                idx = scale_indices(sigma_h[..., r0:r1, :])[0].numpy()
                g = pos[r0:r1]
                idx_out[c0:c1, r0:r1][:, g] = idx[:, g]  # shifts stay 0 (no means)
            return
        if p not in bases:
            bases.clear()  # the previous pass's are done with
            bases[p] = []
            for r0 in range(0, hl, BAND):
                r1 = min(hl, r0 + BAND)
                context = None
                if p == 1:
                    e0, e1 = max(0, r0 - CONTEXT_HALO), min(hl, r1 + CONTEXT_HALO)
                    context = cb.anchor_context(decoded[..., e0:e1, :])[..., r0 - e0:r1 - e0, :]
                # the rest of the network is 1x1: run it at this pass's positions only
                g = pos[r0:r1]
                bases[p].append(None if not g.any() else cb.base(
                    _at(sigma_h[..., r0:r1, :], g), None if context is None else _at(context, g)))
        for band, r0 in enumerate(range(0, hl, BAND)):
            r1 = min(hl, r0 + BAND)
            g = pos[r0:r1]
            if not g.any():  # a 1-sample latent has no non-anchor
                continue
            before = _at(decoded[:, :c0, r0:r1], g) if k else None
            base = bases[p][band]
            assert base is not None  # the band has positions of this pass
            sigma, mean = cb.group_params(_at(sigma_h[..., r0:r1, :], g), base, before, k)
            steps = torch.round(mean[0, :, :, 0] * MEAN_STEPS).to(torch.int64)
            shift = torch.div(steps, MEAN_STEPS, rounding_mode="floor")
            table = scale_indices(sigma[..., 0])[0] * MEAN_STEPS + (steps - shift * MEAN_STEPS)
            idx_out[c0:c1, r0:r1][:, g] = table.numpy()
            shift_out[c0:c1, r0:r1][:, g] = shift.numpy()

    def _bits_view(self, lat_int: np.ndarray, idx: np.ndarray, h: int, w: int) -> View:
        """−log2 p of each latent element (as coded: less its shift) under its table,
        summed over channels (float32, one value per 16x16 block, cropped to the image):
        where the bits go."""
        freqs = self._tables().frequencies(lat_int, idx)
        bits = -np.log2(freqs / float(1 << 16))
        return View(ViewKind.BIT_MAP, bits.sum(axis=0).astype(np.float32),
                    scale=LATENT_SCALE).crop(h, w)

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The decoded image and what the bitstream carries besides (views)."""
        parts = self.part_channels()
        lead = len(self.leading_kinds)
        kinds = [(int(k), c) for k, c in self.leading_kinds]
        kinds += [(int(LayerKind.SIDE_INFO), CODEC_ID_RANS)]
        kinds += [(int(LayerKind.LATENT), CODEC_ID_RANS)] * len(parts)
        edge_kind = (int(LayerKind.RESIDUAL), CODEC_ID_RANS)
        have = [(int(layer.kind), layer.codec_id) for layer in encoded.layers]
        edges = have == [*kinds, edge_kind]
        if have != kinds and not edges:
            raise PipelineError(f"{self.name}: unexpected layers in the file")
        # files before the edge offsets have no ``edges`` in their header, and no layer
        if edges and not encoded.params.get("edges", 0):
            raise PipelineError(f"{self.name}: the file carries edge offsets but its "
                                "header says edges=off")
        lead_views = self.read_leading(list(encoded.layers[:lead]))
        layers = encoded.layers[lead:len(kinds)]
        params = self.check_params(encoded.params)
        h, w = encoded.height, encoded.width
        ph, pw = padded_size(h, w)
        hl, wl = ph // LATENT_SCALE, pw // LATENT_SCALE
        hz, wz = hyper_size(hl, wl)
        n = int(self.model.entropy_bottleneck.channels)
        z_idx = np.broadcast_to(np.arange(n)[:, None, None], (n, hz, wz))
        z_int = coder.decode(layers[0].data, z_idx, self.z_tables)
        units = self._units()
        tables = self._tables()
        decoders = [coder.StackDecoder(layer.data, tables) for layer in layers[1:]]
        # the latent decoded so far, zero elsewhere: integers, exact in float32 (the coder's
        # range is |v| < 2**15); the tensor shares its memory, so each step sees the last
        lat = np.zeros((sum(parts), hl, wl), dtype=np.float32)
        lat_hat = torch.from_numpy(lat)[None]
        with fixed_threads():
            z_hat = torch.from_numpy(z_int.astype(np.float32))[None]
            sigma_h = self._scales(z_hat, hl, wl)
        idx_all, shift_all = self._new_coding(sigma_h)
        bases: dict[int, list[torch.Tensor | None]] = {}
        for unit in units:
            with fixed_threads():
                self._fill_coding(sigma_h, lat_hat, unit, idx_all, shift_all, bases)
            g = self._positions(unit, hl, wl)
            for dec, cs in zip(decoders, self._part_slices(unit), strict=True):
                if cs is not None:
                    sel = (slice(cs[0], cs[1]), g)
                    lat[sel] = dec.pop(idx_all[sel]) + shift_all[sel]
        for dec in decoders:
            dec.close()
        del bases
        views: dict[str, View] = {**lead_views,
                                  "bits": self._bits_view(lat - shift_all, idx_all, h, w)}
        del idx_all, shift_all
        with fixed_threads():
            q = self._quality(params)
            _, inv_gain = self.model.gains(q)
            image = self.synthesise(lat_hat * inv_gain, h, w, views, q)
        if edges:
            image = edgeoffsets.apply(image, encoded.layers[len(kinds)].data, self.name)
        return image, views


def _at(x: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
    """(1, C, h, w) -> (1, C, n, 1): the n positions where ``positions`` (h, w) is True, in
    raster order, as a column that 1x1 convolutions take."""
    return x[..., torch.from_numpy(positions)].unsqueeze(-1)


class HyperpriorPipeline(EndToEndPipeline):
    spec = HYPERPRIOR
    weights = "hyperprior"

