"""End-to-end learned codecs: the shared encoder/decoder of ``hyperprior`` and ``menet``.

Bitstream (all learned, no HEVC inside), one ``.edms`` file:

- a SIDE_INFO layer: the hyper-latent ẑ, each channel coded with its factorized-prior
  table (Ballé et al. 2018, appendix 6.1);
- one LATENT layer per latent part (``hyperprior``: ŷ; ``menet``: ŷ = z_x and the semantic
  latent ẑ_s), each element coded with the Gaussian table of its scale index, the scales
  coming from h_s(ẑ) (§3 of Ballé et al.);

all through :mod:`app.entropy.coder` (rANS, ``constriction``). The header's ``quality``
parameter selects the gain vectors (Cui et al. 2021).

Bit-exactness: the hyper-decoder h_s, the scale indices, the probability tables and the
synthesis run on the CPU in float32 with :data:`app.pipelines.netrun.INFERENCE_THREADS`
threads, identically in encoder and decoder; the encoder's own reconstruction is computed
by that same decoding path from the integer latents.

Any image size: the image is padded (replicate) to a multiple of 64 and the result
cropped back. Large images are analysed and synthesised in tiles of the latent (64 latent
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

from app.codecs import CODEC_ID_RANS
from app.entropy import coder
from app.entropy.models import scale_indices
from app.errors import PipelineError
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline, View, ViewKind
from app.pipelines.endtoend_spec import HYPERPRIOR
from app.pipelines.netrun import fixed_threads, in_helper_thread
from app.pipelines.watch import checkpoint, interruptible

LATENT_SCALE = 16  # pixels per latent sample
HYPER_SCALE = 4  # latent samples per hyper-latent sample
TILE = 64  # latent samples per tile side (1024 pixels)
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
def gaussian_tables() -> coder.TableSet:
    from app.entropy.models import GaussianConditional

    freqs = GaussianConditional().tables()
    return coder.TableSet(freqs, [-((f.size - 1) // 2) for f in freqs])


def bottleneck_tables(model: Any) -> coder.TableSet:
    from app.entropy.models import BOTTLENECK_RANGE

    with fixed_threads():
        freqs = model.entropy_bottleneck.tables()
    return coder.TableSet(freqs, [-BOTTLENECK_RANGE] * len(freqs))


def padded_size(h: int, w: int, multiple: int = LATENT_SCALE * HYPER_SCALE) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


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

    # -- parts that subclasses specialise -------------------------------------------------
    def part_channels(self) -> tuple[int, ...]:
        return (int(self.model.M),)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.model.g_a(x)
        return y

    def synthesise(self, lat: torch.Tensor, h: int, w: int,
                   views: dict[str, View] | None) -> np.ndarray:
        """De-gained latent -> decoded HxWx3 uint8 (and views, when asked for)."""
        hl, wl = lat.shape[-2:]
        x = tiled_latent(self.model.g_s, [(lat[:, : self.model.M], 1)], LATENT_SCALE, hl, wl)
        return to_uint8(x, h, w)

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
            z_hat = torch.round(self.model.h_a(lat.abs()))
            idx = scale_indices(self._scales(z_hat, hl, wl))
            lat_hat = torch.round(lat)
        z_int = z_hat[0].to(torch.int64).numpy()
        z_idx = np.broadcast_to(np.arange(z_int.shape[0])[:, None, None], z_int.shape)
        self.report("entropy coding")
        layers = [Layer(LayerKind.SIDE_INFO, CODEC_ID_RANS,
                        coder.encode(z_int, z_idx, self.z_tables))]
        lat_int = lat_hat[0].to(torch.int64).numpy()
        idx_np = idx[0].numpy()
        c0 = 0
        for c in self.part_channels():
            layers.append(Layer(LayerKind.LATENT, CODEC_ID_RANS,
                                coder.encode(lat_int[c0:c0 + c], idx_np[c0:c0 + c],
                                             gaussian_tables())))
            c0 += c
        views["bits"] = self._bits_view(lat_int, idx_np, h, w)
        self.report("synthesis")
        with fixed_threads():
            recon = self.synthesise(lat_hat * inv_gain, h, w, views)
        return self.encoded(h, w, params, layers, recon, views)

    @staticmethod
    def _bits_view(lat_int: np.ndarray, idx: np.ndarray, h: int, w: int) -> View:
        """−log2 p of each latent element under its table, summed over channels (float32,
        one value per 16x16 block, cropped to the image): where the bits go."""
        tables = gaussian_tables()
        freqs = np.zeros(lat_int.shape, dtype=np.float64)
        sym, _ = tables.symbols(lat_int.reshape(-1), idx.reshape(-1))
        k = idx.reshape(-1)
        for t in np.unique(k):
            sel = k == t
            freqs.reshape(-1)[sel] = tables.freqs[int(t)][sym[sel]]
        bits = -np.log2(freqs / float(1 << 16))
        return View(ViewKind.BIT_MAP, bits.sum(axis=0).astype(np.float32),
                    scale=LATENT_SCALE).crop(h, w)

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The decoded image and what the bitstream carries besides (views)."""
        parts = self.part_channels()
        kinds = [LayerKind.SIDE_INFO] + [LayerKind.LATENT] * len(parts)
        if [int(layer.kind) for layer in encoded.layers] != [int(k) for k in kinds] or any(
                layer.codec_id != CODEC_ID_RANS for layer in encoded.layers):
            raise PipelineError(f"{self.name}: unexpected layers in the file")
        params = self.check_params(encoded.params)
        h, w = encoded.height, encoded.width
        ph, pw = padded_size(h, w)
        hl, wl = ph // LATENT_SCALE, pw // LATENT_SCALE
        hz, wz = hl // HYPER_SCALE, wl // HYPER_SCALE
        n = int(self.model.entropy_bottleneck.channels)
        z_idx = np.broadcast_to(np.arange(n)[:, None, None], (n, hz, wz))
        z_int = coder.decode(encoded.layers[0].data, z_idx, self.z_tables)
        with fixed_threads():
            z_hat = torch.from_numpy(z_int.astype(np.float32))[None]
            idx = scale_indices(self._scales(z_hat, hl, wl))[0].numpy()
        chunks, c0 = [], 0
        for layer, c in zip(encoded.layers[1:], parts, strict=True):
            chunks.append(coder.decode(layer.data, idx[c0:c0 + c], gaussian_tables()))
            c0 += c
        lat_int = np.concatenate(chunks, axis=0)
        views: dict[str, View] = {"bits": self._bits_view(lat_int, idx, h, w)}
        with fixed_threads():
            _, inv_gain = self.model.gains(self._quality(params))
            lat_hat = torch.from_numpy(lat_int.astype(np.float32))[None]
            image = self.synthesise(lat_hat * inv_gain, h, w, views)
        return image, views


class HyperpriorPipeline(EndToEndPipeline):
    spec = HYPERPRIOR
    weights = "hyperprior"

