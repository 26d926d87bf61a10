"""The class layer of ``deepsic-pre``: the top-k classes the encoder predicted (§III-D).

DeepSIC's pre-semantic architecture "reserves a portion of the bits" of the code for the
semantics. Here they are one small SIDE_INFO layer with its own codec id,
:data:`CODEC_ID_CLASSES`, readable without decoding the image or loading any network
(numpy and the standard library only), which is what ``edms info`` and ``edms search``
use.

Layer bytes (format 1)::

    u8 format (1) | u8 class set (1 = the 10 Imagenette classes in sorted wnid order,
    app.classes.IMAGENETTE_CLASSES) | u8 n (1..10) |
    n x (u8 class index, u16le probability in units of 1/65535)

in decreasing probability, distinct indices, probabilities summing to at most 1 (up to
rounding). 3 + 3n bytes: 18 for the top 5.

Views (for the GUI and ``eval``): ``classes``, the n class indices (int64), most likely
first (names from :data:`app.classes.IMAGENETTE_NAMES`), and ``class_probabilities``,
their quantised probabilities (float32, same order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.classes import IMAGENETTE_NAMES
from app.errors import PipelineError
from app.pipelines.base import Encoded, Layer, LayerKind, View, ViewKind

#: the layer codec of a class layer (allotted in the shared table, app.codecs.CODEC_IDS,
#: before the pipelines' own range existed)
CODEC_ID_CLASSES = 10
FORMAT = 1
CLASS_SET_IMAGENETTE = 1
TOP_K = 5
_PROB_UNIT = 65535


@dataclass(frozen=True)
class ClassScore:
    index: int
    name: str
    probability: float


def pack(probabilities: Sequence[float] | np.ndarray, k: int = TOP_K) -> bytes:
    """The layer bytes of the ``k`` most probable classes of a softmax output."""
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if p.size != len(IMAGENETTE_NAMES):
        raise PipelineError(f"expected {len(IMAGENETTE_NAMES)} class probabilities, got {p.size}")
    k = max(1, min(k, p.size))
    order = np.argsort(-p, kind="stable")[:k]
    q = np.clip(np.round(p[order] * _PROB_UNIT), 0, _PROB_UNIT).astype(np.int64)
    q = np.minimum.accumulate(q)  # rounding never breaks the decreasing order
    out = bytearray((FORMAT, CLASS_SET_IMAGENETTE, k))
    for i, v in zip(order, q, strict=True):
        out += bytes((int(i),)) + int(v).to_bytes(2, "little")
    return bytes(out)


def unpack(data: bytes) -> list[ClassScore]:
    """Parse and validate the layer bytes; :class:`PipelineError` names any damage."""
    def bad(why: str) -> PipelineError:
        return PipelineError(f"damaged class layer: {why}")

    if len(data) < 3:
        raise bad(f"{len(data)} bytes, at least 3 expected")
    fmt, class_set, n = data[0], data[1], data[2]
    if fmt != FORMAT:
        raise bad(f"unknown format {fmt} (this build reads format {FORMAT})")
    if class_set != CLASS_SET_IMAGENETTE:
        raise bad(f"unknown class set {class_set}")
    if not 1 <= n <= len(IMAGENETTE_NAMES):
        raise bad(f"{n} classes listed, 1..{len(IMAGENETTE_NAMES)} allowed")
    if len(data) != 3 + 3 * n:
        raise bad(f"{len(data)} bytes for {n} classes, expected {3 + 3 * n}")
    out, seen, last = [], set(), _PROB_UNIT
    for j in range(n):
        i = data[3 + 3 * j]
        v = int.from_bytes(data[4 + 3 * j:6 + 3 * j], "little")
        if i >= len(IMAGENETTE_NAMES) or i in seen:
            raise bad(f"class index {i} is out of range or repeated")
        if v > last:
            raise bad("probabilities are not in decreasing order")
        seen.add(i)
        last = v
        out.append(ClassScore(i, IMAGENETTE_NAMES[i], v / _PROB_UNIT))
    if sum(c.probability for c in out) > 1.0 + n / _PROB_UNIT:
        raise bad("probabilities sum to more than 1")
    return out


def layer(probabilities: Sequence[float] | np.ndarray, k: int = TOP_K) -> Layer:
    return Layer(LayerKind.SIDE_INFO, CODEC_ID_CLASSES, pack(probabilities, k))


def is_class_layer(kind: LayerKind | int, codec_id: int) -> bool:
    return int(kind) == int(LayerKind.SIDE_INFO) and codec_id == CODEC_ID_CLASSES


def classes_of(encoded: Encoded) -> list[ClassScore] | None:
    """The classes a file carries (None if it has no class layer)."""
    found = [la for la in encoded.layers if is_class_layer(la.kind, la.codec_id)]
    if not found:
        return None
    if len(found) > 1:
        raise PipelineError("damaged file: two class layers")
    return unpack(found[0].data)


def views(classes: Sequence[ClassScore]) -> dict[str, View]:
    """The ``classes`` (int64 indices, most likely first) and ``class_probabilities``
    (float32) views, of kind :attr:`ViewKind.CLASSES`."""
    return {"classes": View(ViewKind.CLASSES,
                            np.array([c.index for c in classes], dtype=np.int64)),
            "class_probabilities": View(ViewKind.CLASSES,
                                        np.array([c.probability for c in classes],
                                                 dtype=np.float32))}


def matches(name: str) -> list[int]:
    """Indices of the classes whose name contains ``name`` (case-insensitive), or whose
    index it is."""
    text = name.strip().lower()
    if text.isdigit():
        i = int(text)
        return [i] if i < len(IMAGENETTE_NAMES) else []
    return [i for i, n in enumerate(IMAGENETTE_NAMES) if text and text in n.lower()]
