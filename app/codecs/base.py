"""Layer codec interface and the helpers every codec shares.

A layer codec turns one array into self-contained bytes and back:

* ``HxWx3 uint8`` RGB images,
* ``HxW uint8`` label maps / gray images,
* ``HxWx3 uint16`` holding 10-bit values (0..1023), HEVC only.

Contract (relied on by :mod:`app.container` and the pipelines):

* everything needed to decode is inside the bytes (no side channel but the codec id);
* ``decode`` raises :class:`app.errors.CodecError`, never another exception type, on
  corrupt or truncated data, and refuses images above :data:`MAX_PIXELS` before decoding
  whenever the size can be read from the header;
* ``encode`` raises :class:`CodecError` for arrays it cannot code.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from app.errors import CodecError

MAX_PIXELS = 2**28
"""Largest image (width x height) any decoder accepts, and the ``.edms`` header's limit
(docs/edms-format.md, "Header body"; :mod:`app.container` uses this same constant)."""

T = TypeVar("T")


class LayerCodec(abc.ABC):
    """One classical codec at one fixed setting (quality, QP, effort, ...)."""

    codec_id: int
    """Stable one-byte id stored in ``.edms`` files (see :data:`app.codecs.CODEC_IDS`)."""
    name: str
    """Short human-readable name including the setting, e.g. ``"hevc444-qp32"``."""
    lossless: bool
    """True when ``decode(encode(a))`` equals ``a`` exactly."""

    @abc.abstractmethod
    def encode(self, array: np.ndarray) -> bytes:
        """Code ``array`` into self-contained bytes."""

    @abc.abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Rebuild the array from bytes made by :meth:`encode` (any setting)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} id={self.codec_id}>"


# --------------------------------------------------------------------------- checks


def check_pixel_limit(height: int, width: int) -> None:
    """Raise :class:`CodecError` unless ``1 <= height*width <= MAX_PIXELS``."""
    if height <= 0 or width <= 0:
        raise CodecError(f"invalid image size {width}x{height}")
    if height * width > MAX_PIXELS:
        raise CodecError(
            f"image of {width}x{height} pixels exceeds the limit of {MAX_PIXELS} pixels"
        )


def check_image(
    array: np.ndarray,
    *,
    allow_gray: bool = True,
    dtypes: tuple[type, ...] = (np.uint8,),
) -> np.ndarray:
    """Validate an array to encode and return it C-contiguous.

    Accepts ``HxWx3`` (and ``HxW`` when ``allow_gray``) arrays of one of ``dtypes``.
    """
    if not isinstance(array, np.ndarray):
        raise CodecError(f"expected a numpy array, got {type(array).__name__}")
    if array.dtype.type not in dtypes:
        names = ", ".join(np.dtype(d).name for d in dtypes)
        raise CodecError(f"expected dtype {names}, got {array.dtype}")
    if not ((array.ndim == 3 and array.shape[2] == 3) or (array.ndim == 2 and allow_gray)):
        kinds = "HxWx3 or HxW" if allow_gray else "HxWx3"
        raise CodecError(f"expected a {kinds} array, got shape {array.shape}")
    check_pixel_limit(array.shape[0], array.shape[1])
    return np.ascontiguousarray(array)


def check_decoded(array: np.ndarray, dtypes: tuple[type, ...] = (np.uint8,)) -> np.ndarray:
    """Raise :class:`CodecError` unless a decoded array is HxW or HxWx3 of ``dtypes``."""
    ok_shape = array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)
    if not ok_shape or array.dtype.type not in dtypes:
        raise CodecError(f"decoded an unsupported array: shape {array.shape}, {array.dtype}")
    return array


@contextmanager
def codec_errors(what: str) -> Iterator[None]:
    """Turn any library exception raised inside the block into :class:`CodecError`.

    The wrapped libraries (libheif, libjxl, libwebp, ...) raise a zoo of exception
    types on bad data; the layer-codec contract promises a single one.
    """
    try:
        yield
    except CodecError:
        raise
    except Exception as exc:  # deliberately broad: normalise every library error
        raise CodecError(f"{what}: {type(exc).__name__}: {exc}") from exc


def guarded(what: str, func: Callable[[], T]) -> T:
    """Call ``func`` inside :func:`codec_errors`."""
    with codec_errors(what):
        return func()


def as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """Accept any bytes-like input for ``decode``; raise CodecError otherwise."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise CodecError(f"expected bytes, got {type(data).__name__}")


def decode_checked(
    data: bytes,
    size: Callable[[bytes], tuple[int, int]],
    decode: Callable[[bytes], np.ndarray],
    what: str,
    *,
    end: tuple[bytes, str] | None = None,
) -> np.ndarray:
    """Decode one image file with the checks of the contract (module docstring).

    ``size`` reads ``(width, height)`` from the header, which must be within
    :data:`MAX_PIXELS` before ``decode`` (the library) runs; ``end`` is ``(trailer,
    message)`` for a format whose library decodes a truncated file silently. Library
    errors become :class:`CodecError` (``"<what> decode failed: ..."``), and the result
    must be an HxW or HxWx3 uint8 array.
    """
    data = as_bytes(data)
    width, height = size(data)
    check_pixel_limit(height, width)
    if end is not None and not data.endswith(end[0]):
        raise CodecError(end[1])
    with codec_errors(f"{what} decode failed"):
        array = decode(data)
    return check_decoded(array)


# --------------------------------------------------------------------------- varints


def write_varint(value: int) -> bytes:
    """Unsigned LEB128 (7 bits per byte, low group first)."""
    if value < 0:
        raise CodecError(f"cannot store negative value {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read an unsigned LEB128 at ``pos``; return ``(value, new_pos)``."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError("truncated data (varint)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CodecError("corrupt data (varint too long)")
