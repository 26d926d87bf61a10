"""Pipeline interface: image -> typed layers -> image.

Every pipeline (classical baselines and the learned ones of the papers) turns an 8-bit
RGB image into a list of :class:`Layer` objects and back. Work that does not depend on
the rate parameter is done once in :meth:`Pipeline.prepare`, so a QP sweep re-runs only
:meth:`Pipeline.encode_prepared` (the learned pipelines compute their networks there).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from app.errors import PipelineError
from app.pipelines.spec import ParamSpec, PipelineSpec, name_layers

__all__ = [
    "Encoded",
    "Layer",
    "LayerKind",
    "ParamSpec",
    "Pipeline",
    "PipelineSpec",
    "kind_text",
    "layers_by_kind",
]


class LayerKind(enum.IntEnum):
    """What a layer of an ``.edms`` file carries (stored as one byte)."""

    IMAGE = 1  # a whole image coded by a classical codec (baselines)
    SEMANTIC_MAP = 2  # class-index map (DSSLIC s, SMIC layer 1)
    COMPACT_IMAGE = 3  # down-sampled base layer (DSSLIC c, SMIC layer 2)
    RESIDUAL = 4  # enhancement residual r
    LATENT = 5  # entropy-coded latent of an end-to-end codec
    SIDE_INFO = 6  # anything else a pipeline needs (hyper-priors, tables)
    CHECK = 7  # hash of the encoder's reconstruction, checked by the decoder (format v2)


def kind_text(kind: int, own: Mapping[int, str] | None = None) -> str:
    """``LayerKind.SIDE_INFO`` → ``"side info"``; a pipeline's own kind → the name its spec
    gives it (``own``: :attr:`PipelineSpec.layer_kinds`); an unknown byte → ``"kind 9"``."""
    try:
        return LayerKind(kind).name.lower().replace("_", " ")
    except ValueError:
        return (own or {}).get(int(kind), f"kind {kind}")


@dataclass(frozen=True)
class Layer:
    """One coded layer: its kind, the codec id (see :mod:`app.codecs`) and the bytes. A
    pipeline's own kind (:data:`app.pipelines.spec.OWN_IDS`) is a plain int."""

    kind: LayerKind | int
    codec_id: int
    data: bytes


def layers_by_kind(pipeline: str, layers: Sequence[Layer],
                   required: Iterable[LayerKind]) -> dict[LayerKind, Layer]:
    """A file's layers by kind, for a decoder: :class:`PipelineError` if a kind occurs
    twice or a ``required`` one is missing."""
    by_kind: dict[LayerKind, Layer] = {}
    for layer in layers:
        if layer.kind in by_kind:
            raise PipelineError(f"{pipeline}: two {kind_text(layer.kind).replace(' ', '_')} layers")
        by_kind[LayerKind(layer.kind)] = layer
    for kind in required:
        if kind not in by_kind:
            raise PipelineError(f"{pipeline}: the file has no {kind.name.lower()} layer")
    return by_kind


class ViewKind(enum.Enum):
    """What an intermediate image of :attr:`Encoded.views` shows, so a viewer chooses how
    to draw it (and which one to overlay) without matching on its name."""

    IMAGE = "image"  # an RGB image (compact, upsampled, prediction, ...)
    SEGMENTATION = "segmentation"  # an HxW map of CamVid class indices
    RESIDUAL = "residual"  # a signed difference shown around mid-grey
    BLOCK_MAP = "block map"  # a per-block decision drawn over the image (post-filter)
    BIT_MAP = "bit map"  # bits spent per block (float, one value per ``scale`` pixels)
    CLASSES = "classes"  # a ranked list (class indices, or their probabilities): not an image


@dataclass(frozen=True)
class View:
    """One intermediate image for the GUI's layer inspector: its kind and its array.

    ``overlay`` marks the segmentation the result is built from (the one the decoder
    uses), which the viewer may draw over the decoded image.
    """

    kind: ViewKind
    array: np.ndarray
    overlay: bool = False
    #: image pixels per array sample along each side (a bit map has one per 16x16 block)
    scale: int = 1

    def crop(self, height: int, width: int) -> View:
        """The view cut to ``height`` x ``width`` image pixels (padding removed)."""
        h, w = -(-height // self.scale), -(-width // self.scale)
        return View(self.kind, np.ascontiguousarray(self.array[:h, :w]), self.overlay,
                    self.scale)


@dataclass
class Encoded:
    """The result of encoding one image with one pipeline at one parameter setting.

    ``reconstruction`` is what the decoder will rebuild (the encoder computes it); it is
    not serialised. ``views`` holds intermediate images for the GUI's layer inspector
    (segmentation, compact image, prediction, residual, ...), each with its
    :class:`ViewKind`; also not serialised.
    """

    pipeline: str
    pipeline_version: int
    model_fingerprint: bytes
    width: int
    height: int
    params: dict[str, int]
    layers: list[Layer]
    reconstruction: np.ndarray | None = None
    views: dict[str, View] = field(default_factory=dict)


class Pipeline:
    """Base class: a subclass sets ``spec`` (its :class:`PipelineSpec`) and implements the
    methods; ``name``, ``version``, ``description`` and ``params`` are read from the spec
    when the class is created, so they are declared once."""

    spec: ClassVar[PipelineSpec | None] = None
    name: ClassVar[str]
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]]
    #: Set by a caller (the GUI worker) to hear about stages ("segmentation", "compact
    #: image", "synthesis", "residual coding", ...); it may raise to cancel.
    progress: Callable[[str], None] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            cls.name = spec.name
            cls.version = spec.version
            cls.description = spec.description
            cls.params = spec.params

    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> Pipeline:
        """The instance the registry serves for ``spec`` (default: ``cls()``)."""
        if cls.spec is not spec:
            raise PipelineError(
                f"{spec.impl} declares pipeline {getattr(cls, 'name', '?')!r}, "
                f"not {spec.name!r}")
        return cls()

    def to(self, device: str) -> bool:
        """Run the networks of the encoder's analysis (whose outputs are coded into the
        file) on ``device`` (``"cpu"``, ``"cuda"``); return whether the pipeline has any.
        The networks a decoder runs stay on the CPU, in float32 with fixed threads, so
        the file decodes bit-exactly anywhere. Pipelines without networks: no-op."""
        return False

    @property
    def analysis_device(self) -> str:
        """Where the encoder's analysis networks run (``"cpu"`` without networks)."""
        return "cpu"

    def report(self, stage: str) -> None:
        """Tell the caller which stage starts (no-op unless ``progress`` is set)."""
        if self.progress is not None:
            self.progress(stage)

    @property
    def model_fingerprint(self) -> bytes:
        """Fingerprint of the weights used; empty for pipelines without networks."""
        return b""

    def default_params(self) -> dict[str, int]:
        return {p.name: p.default for p in self.params}

    def layer_names(self, layers: Sequence[Layer]) -> list[str]:
        """A name per layer for people (byte breakdowns, the layer inspector): the kind
        (``"side info"``), numbered where a kind occurs more than once (``"latent 1"``),
        or the names the spec declares for it (:attr:`PipelineSpec.layer_names`)."""
        own = self.spec.layer_kinds if self.spec is not None else None
        return name_layers([kind_text(layer.kind, own) for layer in layers],
                           self.spec.layer_names if self.spec is not None else None)

    def encoded(self, height: int, width: int, params: dict[str, int], layers: list[Layer],
                reconstruction: np.ndarray, views: dict[str, View] | None = None) -> Encoded:
        """This pipeline's :class:`Encoded` (its name, version and weights' fingerprint)
        of an image of ``height`` x ``width``."""
        return Encoded(self.name, self.version, self.model_fingerprint, width, height,
                       dict(params), layers, reconstruction, views if views is not None else {})

    def check_params(self, params: dict[str, int]) -> dict[str, int]:
        """Fill defaults and validate ranges; raise PipelineError on a bad value."""
        out = self.default_params()
        known = {p.name: p for p in self.params}
        for key, value in params.items():
            if key not in known:
                raise PipelineError(f"pipeline {self.name!r} has no parameter {key!r}")
            spec = known[key]
            if not spec.allows(value):
                raise PipelineError(
                    f"{spec.label} for {self.name!r} must be {spec.describe_range()}, "
                    f"got {value}"
                )
            out[key] = int(value)
        return out

    def prepare(self, image: np.ndarray) -> Any:
        """Rate-independent analysis of an HxWx3 uint8 image (default: the image)."""
        return image

    def encode_prepared(self, prepared: Any, params: dict[str, int]) -> Encoded:
        raise NotImplementedError

    def encode(self, image: np.ndarray, params: dict[str, int]) -> Encoded:
        return self.encode_prepared(self.prepare(image), self.check_params(params))

    def decode(self, encoded: Encoded) -> np.ndarray:
        """Rebuild the HxWx3 uint8 image from the layers (and header fields). A subclass
        overrides this or :meth:`decode_with_views`; each defaults to the other."""
        if type(self).decode_with_views is Pipeline.decode_with_views:
            raise NotImplementedError(f"{type(self).__name__} implements no decoder")
        return self.decode_with_views(encoded)[0]

    def decode_with_views(self, encoded: Encoded) -> tuple[np.ndarray, dict[str, View]]:
        """The decoded image and what the decoder derives from the bitstream besides it
        (the class map a semantic pipeline carries, ...), cropped to the image. Default:
        :meth:`decode`, no views."""
        return self.decode(encoded), {}


class NetsOwner:
    """Mixin for a pipeline whose networks live in one shared object ``self.nets`` (with a
    ``fingerprint``, a ``to(device)`` that moves the encoder's analysis networks, and an
    ``analysis_device``): DSSLIC's and SMIC's. The decoder's networks stay on the CPU."""

    nets: Any

    @property
    def model_fingerprint(self) -> bytes:
        return self.nets.fingerprint

    def to(self, device: str) -> bool:
        self.nets.to(device)
        return True

    @property
    def analysis_device(self) -> str:
        return self.nets.analysis_device.type
