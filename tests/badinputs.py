"""Awkward and broken input images, written on the fly (no binary fixtures).

Each ``write_*`` function writes one file into a directory and returns its path; the
``*_array`` functions give the pixels a correct reader must produce (or the stored
pixels, for the EXIF case). :func:`make_bad_input_matrix` writes them all. Used by
``tests/test_imageio.py`` and the CLI tests.

Sizes are written ``WxH`` as Pillow and the error messages do: ``odd_7x13`` is 7 pixels
wide and 13 high (array shape ``(13, 7, 3)``).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# --------------------------------------------------------------------------- contents


def tiny_1x1_array() -> np.ndarray:
    return np.array([[[12, 34, 56]]], dtype=np.uint8)


def odd_7x13_array() -> np.ndarray:
    y, x = np.mgrid[0:13, 0:7]
    return np.stack([x * 36, y * 19, (x * y * 5) % 256], axis=2).astype(np.uint8)


def png16_array() -> np.ndarray:
    """16-bit RGB samples (8x6), including ones where the high byte != round(v / 257)."""
    rng = np.random.default_rng(16)
    a = rng.integers(0, 65536, size=(6, 8, 3), dtype=np.uint16)
    # 257k + 128 rounds to k but its high byte is k + 1 for k >= 128 (e.g. 51528 -> 200 / 201)
    a[0, :, 0] = [0, 65535, 257 * 200 + 128, 257 * 128 + 128, 128, 129, 385, 32896]
    return a


def rgba_array() -> np.ndarray:
    """8x4 RGBA: row 0 fully transparent, row 1 half transparent, rows 2-3 opaque."""
    a = np.zeros((4, 8, 4), dtype=np.uint8)
    a[..., 0] = np.arange(8)[None, :] * 30
    a[..., 1] = 200
    a[..., 2] = np.arange(4)[:, None] * 60
    a[0, :, 3] = 0
    a[1, :, 3] = 128
    a[2:, :, 3] = 255
    return a


def gray_array() -> np.ndarray:
    return (np.arange(10 * 9).reshape(9, 10) * 3 % 256).astype(np.uint8)


def quadrants_array(height: int = 32, width: int = 64) -> np.ndarray:
    """Four flat quadrants: top-left red, top-right green, bottom-left blue, bottom-right white."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    a[:h2, :w2] = (255, 0, 0)
    a[:h2, w2:] = (0, 255, 0)
    a[h2:, :w2] = (0, 0, 255)
    a[h2:, w2:] = (255, 255, 255)
    return a


# CMYK quadrants and the RGB Pillow's plain conversion gives them.
CMYK_QUADRANTS = ((255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255))
CMYK_QUADRANTS_RGB = ((0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0))

PALETTE = [(255, 0, 0), (0, 128, 0), (0, 0, 255), (10, 20, 30)]  # index 0 is transparent


def palette_indices() -> np.ndarray:
    return (np.arange(6 * 5).reshape(5, 6) % len(PALETTE)).astype(np.uint8)


# --------------------------------------------------------------------------- writers


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_empty(folder: Path) -> Path:
    path = folder / "empty.png"
    path.write_bytes(b"")
    return path


def write_truncated_png(folder: Path) -> Path:
    """A 64x64 noise PNG (so IDAT is large) cut in the middle of its pixel data."""
    noise = np.random.default_rng(7).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    data = buf.getvalue()
    path = folder / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def write_text_as_png(folder: Path) -> Path:
    path = folder / "text.png"
    path.write_text("this is not an image, just text with a .png suffix\n")
    return path


def write_tiny_1x1(folder: Path) -> Path:
    path = folder / "tiny_1x1.png"
    Image.fromarray(tiny_1x1_array()).save(path)
    return path


def write_odd_7x13(folder: Path) -> Path:
    path = folder / "odd_7x13.png"
    Image.fromarray(odd_7x13_array()).save(path)
    return path


def write_png16(folder: Path) -> Path:
    """16-bit RGB PNG (Pillow cannot write one; imagecodecs' libpng can)."""
    import imagecodecs

    path = folder / "rgb16.png"
    path.write_bytes(imagecodecs.png_encode(png16_array()))
    return path


def write_rgba(folder: Path) -> Path:
    path = folder / "rgba.png"
    Image.fromarray(rgba_array(), mode="RGBA").save(path)
    return path


def write_gray(folder: Path) -> Path:
    path = folder / "gray.png"
    Image.fromarray(gray_array(), mode="L").save(path)
    return path


def write_cmyk_jpeg(folder: Path) -> Path:
    """32x32 CMYK JPEG, quadrants pure C, M, Y, K (in reading order)."""
    a = np.zeros((32, 32, 4), dtype=np.uint8)
    for (r, c), value in zip(((0, 0), (0, 1), (1, 0), (1, 1)), CMYK_QUADRANTS, strict=True):
        a[r * 16 : r * 16 + 16, c * 16 : c * 16 + 16] = value
    path = folder / "cmyk.jpg"
    Image.fromarray(a, mode="CMYK").save(path, format="JPEG", quality=95)
    return path


def write_exif_rotated_jpeg(folder: Path, orientation: int = 6) -> Path:
    """Stored 64 wide x 32 high (:func:`quadrants_array`) with EXIF Orientation set.

    Orientation 6 means "rotate 90 degrees clockwise to display", so a correct reader
    returns 32 wide x 64 high with the stored top-left (red) quadrant at the top right.
    """
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = folder / f"exif_orientation{orientation}.jpg"
    Image.fromarray(quadrants_array()).save(
        path, format="JPEG", quality=95, subsampling=0, exif=exif.tobytes()
    )
    return path


def huge_header_png_bytes(width: int = 60000, height: int = 60000) -> bytes:
    """A valid-looking PNG whose IHDR declares ``width x height`` RGB but holds ~100 bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def write_huge_header_png(folder: Path) -> Path:
    path = folder / "huge_header.png"
    path.write_bytes(huge_header_png_bytes())
    return path


def write_palette_transparent(folder: Path) -> Path:
    """Palette PNG whose index 0 is fully transparent (tRNS)."""
    im = Image.fromarray(palette_indices(), mode="P")
    im.putpalette([v for rgb in PALETTE for v in rgb])
    path = folder / "palette_transparent.png"
    im.save(path, transparency=0)
    return path


WRITERS: dict[str, Callable[[Path], Path]] = {
    "empty": write_empty,
    "truncated_png": write_truncated_png,
    "text_as_png": write_text_as_png,
    "tiny_1x1": write_tiny_1x1,
    "odd_7x13": write_odd_7x13,
    "png16": write_png16,
    "rgba": write_rgba,
    "gray": write_gray,
    "cmyk_jpeg": write_cmyk_jpeg,
    "exif_rotated_jpeg": write_exif_rotated_jpeg,
    "huge_header_png": write_huge_header_png,
    "palette_transparent": write_palette_transparent,
}

# What load_image does with each entry of the matrix.
UNREADABLE = frozenset({"empty", "truncated_png", "text_as_png", "huge_header_png"})
READABLE = frozenset(WRITERS) - UNREADABLE


def make_bad_input_matrix(tmpdir: str | Path) -> dict[str, Path]:
    """Write every awkward input into ``tmpdir``; ``{name: path}``.

    Names in :data:`UNREADABLE` must be refused with one-line ``ImageReadError``; the
    ones in :data:`READABLE` must load (as 8-bit RGB, with notes for conversions).
    """
    folder = Path(tmpdir)
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write(folder) for name, write in WRITERS.items()}
