"""Programmatic encode/decode API over pipelines and the ``.edms`` container.

``edms encode``/``decode``, ``edms eval``, ``edms compare`` and the GUI worker all go
through these functions, so every path encodes, serialises and decodes the same way:

- :func:`code` encodes a prepared image at one setting and serialises it to ``.edms``
  bytes; :func:`decode_checked` decodes those bytes and checks the decoder rebuilt the
  encoder's reconstruction bit for bit; :func:`round_trip` is the two, timed. They take
  the output of :meth:`Pipeline.prepare`, so a sweep runs the rate-independent networks
  once per image and only the coding per point.
- :func:`closest_setting` is the one rule that picks the setting whose file is nearest
  a target bpp (``edms compare`` and the GUI's Match bitrate).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app import metrics
from app.container import from_bytes, read_edms, to_bytes
from app.errors import PipelineError
from app.pipelines import registry
from app.pipelines.base import Encoded, Layer, LayerKind, Pipeline, View

#: relative bpp distance within which :func:`closest_setting`'s candidates compete on PSNR
TOLERANCE = 0.1


@dataclass
class Decoded:
    """A decoded file: its header and layers, the image, the file's size, and what the
    decoder derived from the bits besides the image (``views``: the class map a semantic
    pipeline carries, DeepSIC's classes, ...)."""

    encoded: Encoded
    image: np.ndarray
    file_bytes: int
    views: dict[str, View] = field(default_factory=dict)


def check_compatible(pipeline: Pipeline, encoded: Encoded) -> None:
    """Refuse a file made by another pipeline version or other model weights."""
    readable = (pipeline.version,
                *(pipeline.spec.reads_versions if pipeline.spec is not None else ()))
    if encoded.pipeline_version not in readable:
        raise PipelineError(
            f"file was written by {encoded.pipeline} version {encoded.pipeline_version}; "
            f"this build has version {pipeline.version}"
        )
    expected = pipeline.model_fingerprint
    if encoded.model_fingerprint != expected:
        got = encoded.model_fingerprint.hex() or "none"
        have = expected.hex() or "none"
        raise PipelineError(
            f"file was encoded with model weights {got}, this decoder has {have}: "
            "decode it with the same weights"
        )


def reconstruction_hash(image: np.ndarray) -> bytes:
    """The CHECK layer's 8 bytes: SHA-256 over the height and width (u32 little-endian)
    and the HxWx3 uint8 pixels in row-major RGB order, truncated."""
    import hashlib

    h, w = image.shape[:2]
    digest = hashlib.sha256(int(h).to_bytes(4, "little") + int(w).to_bytes(4, "little"))
    digest.update(np.ascontiguousarray(image, dtype=np.uint8).data)
    return digest.digest()[:8]


def runs_networks(pipeline: Pipeline) -> bool:
    """Pipelines whose decoder runs networks carry the CHECK layer (their weights have a
    fingerprint); classical decoders are exact by construction."""
    return bool(pipeline.model_fingerprint)


def seal(pipeline: Pipeline, encoded: Encoded) -> Encoded:
    """Append the CHECK layer (a hash of the encoder's reconstruction) to the file of a
    pipeline that runs networks, so a decoder that computes anything differently (other
    threads, hardware, library versions) fails loudly instead of showing a wrong image."""
    if runs_networks(pipeline) and encoded.reconstruction is not None and not any(
            layer.kind == LayerKind.CHECK for layer in encoded.layers):
        encoded.layers.append(Layer(LayerKind.CHECK, 0,
                                    reconstruction_hash(encoded.reconstruction)))
    return encoded


def decode_verified(pipeline: Pipeline, encoded: Encoded) -> np.ndarray:
    """Decode ``encoded`` with ``pipeline`` (layers without the CHECK layer) and verify the
    image against the CHECK layer; a file of a network pipeline must have one."""
    return decode_verified_views(pipeline, encoded)[0]


def decode_verified_views(pipeline: Pipeline, encoded: Encoded
                          ) -> tuple[np.ndarray, dict[str, View]]:
    """:func:`decode_verified`, also returning what the decoder derived from the bits
    besides the image (:meth:`Pipeline.decode_with_views`: the class map it carries, ...)."""
    check = [layer for layer in encoded.layers if layer.kind == LayerKind.CHECK]
    if runs_networks(pipeline) and not check:
        raise PipelineError(f"{encoded.pipeline}: the file has no reconstruction check; "
                            "it was not written by this version of the workbench")
    if check:
        import dataclasses

        encoded = dataclasses.replace(
            encoded, layers=[lay for lay in encoded.layers if lay.kind != LayerKind.CHECK])
    image, views = pipeline.decode_with_views(encoded)
    if check and reconstruction_hash(image) != check[0].data:
        raise PipelineError(
            f"{encoded.pipeline}: decoded differently from the encoder (reconstruction hash "
            f"{reconstruction_hash(image).hex()}, the file expects {check[0].data.hex()}); "
            "this decoder computes different probabilities or network outputs")
    return image, views


def encode(image: np.ndarray, pipeline: str, params: dict[str, int]) -> tuple[Encoded, bytes]:
    """Encode an HxWx3 uint8 image; return the result and the ``.edms`` bytes."""
    p = registry.get(pipeline)
    enc = seal(p, p.encode(image, params))
    return enc, to_bytes(enc)


def decode_encoded(encoded: Encoded) -> np.ndarray:
    return decode_encoded_views(encoded)[0]


def decode_encoded_views(encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
    """A parsed file decoded by its registered pipeline: compatible, verified, with views."""
    pipeline = registry.get(encoded.pipeline)
    check_compatible(pipeline, encoded)
    return decode_verified_views(pipeline, encoded)


def decode(source: str | Path | bytes) -> Decoded:
    """Decode an ``.edms`` file (path or bytes)."""
    if isinstance(source, str | Path):
        encoded = read_edms(source)
        size = Path(source).stat().st_size
    else:
        encoded = from_bytes(bytes(source))
        size = len(source)
    image, views = decode_encoded_views(encoded)
    return Decoded(encoded, image, size, views)


def _pipeline(pipeline: Pipeline | str) -> Pipeline:
    return registry.get(pipeline) if isinstance(pipeline, str) else pipeline


@dataclass
class Coded:
    """One setting coded: the encoder's result, the ``.edms`` bytes and the seconds that
    ``encode_prepared`` plus serialising took (not the rate-independent ``prepare``)."""

    encoded: Encoded
    data: bytes
    encode_s: float

    @property
    def file_bytes(self) -> int:
        return len(self.data)

    def bpp(self) -> float:
        return metrics.bpp(len(self.data), self.encoded.width, self.encoded.height)


@dataclass
class RoundTrip(Coded):
    """:class:`Coded` plus the image decoded from the bytes and the seconds parsing and
    decoding took. ``decoded`` equals ``encoded.reconstruction`` when the pipeline gives
    one (:func:`decode_checked` refuses otherwise)."""

    decoded: np.ndarray
    decode_s: float


def code(pipeline: Pipeline | str, prepared: Any, params: Mapping[str, int]) -> Coded:
    """Encode the output of ``pipeline.prepare`` at ``params`` and serialise it."""
    p = _pipeline(pipeline)
    t0 = time.perf_counter()
    enc = seal(p, p.encode_prepared(prepared, p.check_params(dict(params))))
    data = to_bytes(enc)
    return Coded(enc, data, time.perf_counter() - t0)


def decode_checked(pipeline: Pipeline | str, data: bytes,
                   reconstruction: np.ndarray | None, what: str = "") -> tuple[np.ndarray, float]:
    """Decode ``.edms`` bytes (parsed again, as a reader would) and check the image equals
    the encoder's ``reconstruction`` (when there is one); return it and the seconds that
    parsing and decoding took. :class:`PipelineError` names ``what`` (default: the
    pipeline) when the decoder did not rebuild the reconstruction."""
    p = _pipeline(pipeline)
    t0 = time.perf_counter()
    decoded = decode_verified(p, from_bytes(data))
    decode_s = time.perf_counter() - t0
    if reconstruction is not None and not np.array_equal(decoded, reconstruction):
        raise PipelineError(f"{what or p.name}: the decoder did not rebuild the encoder's "
                            "reconstruction")
    return decoded, decode_s


def round_trip(pipeline: Pipeline | str, prepared: Any, params: Mapping[str, int],
               what: str = "") -> RoundTrip:
    """Encode, serialise to ``.edms`` bytes, decode from the bytes and check the result
    against the encoder's reconstruction, timing the two halves (:func:`code`,
    :func:`decode_checked`). ``prepared`` is ``pipeline.prepare(image)``, computed once
    per image by the caller so a sweep runs the networks once."""
    p = _pipeline(pipeline)
    c = code(p, prepared, params)
    decoded, decode_s = decode_checked(p, c.data, c.encoded.reconstruction, what)
    return RoundTrip(c.encoded, c.data, c.encode_s, decoded, decode_s)


def _other_values(pipeline: Pipeline, overrides: Mapping[str, Sequence[int]] | None
                  ) -> list[dict[str, int]]:
    axes = []
    for spec in pipeline.params[1:]:
        vals = (overrides or {}).get(spec.name) or spec.sweep or (spec.default,)
        axes.append([(spec.name, int(v)) for v in vals])
    return [dict(c) for c in itertools.product(*axes)]


def closest_setting(pipeline: Pipeline | str, image: np.ndarray, target_bpp: float,
                    overrides: Mapping[str, Sequence[int]] | None = None,
                    prepared: Any = None,
                    probe: Callable[[dict[str, int]], None] | None = None) -> Coded:
    """The coded setting of ``pipeline`` nearest the target whole-file bpp.

    A binary search of the first rate parameter (bpp is monotone in a QP or quality knob)
    for every combination of the other parameters' sweep values (SMIC: sampling factor 4
    and 8), which ``overrides`` can replace. Of the candidates within ``TOLERANCE`` of
    the target (or the closest one, if none is), the one with the highest PSNR-RGB is
    taken, so a multi-parameter pipeline is shown at its best setting for that rate.
    ``prepared`` is ``pipeline.prepare(image)`` if the caller has it; ``probe`` is called
    with the parameters before every trial encoding (progress, cancellation). The views
    of the returned encoding are dropped (many probes per image).
    """
    p = _pipeline(pipeline)
    spec = p.params[0]
    if prepared is None:
        prepared = p.prepare(image)
    cache: dict[tuple, Coded] = {}

    def coded(params: dict[str, int]) -> Coded:
        key = tuple(sorted(params.items()))
        if key not in cache:
            if probe is not None:
                probe(params)
            c = code(p, prepared, params)
            c.encoded.views = {}  # keep only what is needed: many probes per image
            cache[key] = c
        return cache[key]

    def bpp(params: dict[str, int]) -> float:
        return coded(params).bpp()

    candidates: list[dict[str, int]] = []
    for other in _other_values(p, overrides):
        values = list(spec.values) if spec.values else list(range(spec.minimum,
                                                                 spec.maximum + 1))
        lo, hi = 0, len(values) - 1
        increasing = spec.higher_is_better  # bpp rises with a quality knob, falls with QP
        while hi - lo > 1:
            mid = (lo + hi) // 2
            below = bpp({**other, spec.name: values[mid]}) < target_bpp
            if below == increasing:
                lo = mid
            else:
                hi = mid
        candidates += [{**other, spec.name: values[i]} for i in sorted({lo, hi})]
    near = [c for c in candidates if abs(bpp(c) - target_bpp) <= TOLERANCE * target_bpp]
    if not near:
        return coded(min(candidates, key=lambda c: abs(bpp(c) - target_bpp)))

    def quality(c: dict[str, int]) -> float:
        recon = coded(c).encoded.reconstruction
        return metrics.psnr_rgb(image, recon) if recon is not None else float("-inf")

    return coded(max(near, key=quality))
