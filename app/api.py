"""Programmatic encode/decode API over pipelines and the ``.edms`` container.

The CLI, ``eval`` and the GUI worker all go through these functions, so every path
encodes, serialises and decodes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.container import from_bytes, read_edms, to_bytes
from app.errors import PipelineError
from app.pipelines import registry
from app.pipelines.base import Encoded, Pipeline


@dataclass
class Decoded:
    encoded: Encoded
    image: np.ndarray
    file_bytes: int


def check_compatible(pipeline: Pipeline, encoded: Encoded) -> None:
    """Refuse a file made by another pipeline version or other model weights."""
    if encoded.pipeline_version != pipeline.version:
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


def encode(image: np.ndarray, pipeline: str, params: dict[str, int]) -> tuple[Encoded, bytes]:
    """Encode an HxWx3 uint8 image; return the result and the ``.edms`` bytes."""
    enc = registry.get(pipeline).encode(image, params)
    return enc, to_bytes(enc)


def decode_encoded(encoded: Encoded) -> np.ndarray:
    pipeline = registry.get(encoded.pipeline)
    check_compatible(pipeline, encoded)
    return pipeline.decode(encoded)


def decode(source: str | Path | bytes) -> Decoded:
    """Decode an ``.edms`` file (path or bytes)."""
    if isinstance(source, str | Path):
        encoded = read_edms(source)
        size = Path(source).stat().st_size
    else:
        encoded = from_bytes(bytes(source))
        size = len(source)
    return Decoded(encoded, decode_encoded(encoded), size)
