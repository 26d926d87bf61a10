"""Reading any image Pillow can open as 8-bit RGB, and writing images atomically.

:func:`load_image` is the one entry point for user images (CLI, GUI, eval). It returns a
C-contiguous ``HxWx3`` ``uint8`` RGB array plus a human-readable note for every
conversion it made, and turns every failure into one-line
:class:`app.errors.ImageReadError`:

- EXIF orientation is applied (``ImageOps.exif_transpose``);
- alpha (RGBA, LA, palette or single-colour transparency) is composited on white;
- 16-bit PNGs and 16-bit RGB(A) TIFFs are decoded at full depth with ``imagecodecs``
  (Pillow keeps only the high byte of those) and rounded to 8 bits as
  ``round(v / 257)``; Pillow's 16-bit grayscale modes (``I;16*``, and ``I`` as Pillow
  opens 16-bit PGM) are rounded the same way; 16-bit PPM Pillow itself scales correctly;
- grayscale, bilevel, palette, CMYK and YCbCr images are converted to RGB (CMYK by
  Pillow's plain formula, without ICC colour management);
- of a multi-frame file (GIF, APNG, TIFF) the first frame is used.

The pixel limit (default 64 MP) is checked on the size in the header, before any pixel
is decoded, so a decompression bomb costs nothing. While opening, Pillow's own bomb
check (``Image.MAX_IMAGE_PIXELS``, which would fire first with a different limit and
message) is switched off, and ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced to False so
a truncated file raises instead of decoding grey. Both are process-wide Pillow globals:
they are changed under a lock and restored afterwards.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, TiffImagePlugin, UnidentifiedImageError

from app.errors import EdmsError, ImageReadError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageWriteError",
    "LoadedImage",
    "apply_orientation",
    "load_image",
    "save_image_atomic",
]

DEFAULT_MAX_PIXELS = 64_000_000

# EPS is excluded: Pillow decodes it by running Ghostscript on the file.
_EXCLUDED_FORMATS = frozenset({"EPS"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ORIENTATION_TAG = 0x0112
_ORIENTATION_NOTES = {
    2: "mirror left-right",
    3: "rotate 180",
    4: "mirror top-bottom",
    5: "transpose",
    6: "rotate 90 clockwise",
    7: "transverse",
    8: "rotate 90 counter-clockwise",
}

_pillow_lock = threading.RLock()


class _Unsupported(Exception):
    """A readable file whose content we cannot convert (message completes "name: ...")."""


class ImageWriteError(EdmsError):
    """An output image cannot be written (unsupported suffix, bad array, I/O error)."""


@dataclass
class LoadedImage:
    """An image converted for the pipelines.

    ``array`` is ``HxWx3`` ``uint8`` RGB, C-contiguous, display orientation.
    ``notes`` lists the conversions made, for people (``edms encode`` prints them).
    ``source_mode`` is Pillow's mode of the file (for 16-bit PNG/TIFF, decoded outside
    Pillow, ``"L;16"``, ``"LA;16"``, ``"RGB;16"`` or ``"RGBA;16"``), ``source_size`` the
    stored ``(width, height)`` before orientation, ``source_format`` Pillow's format name.
    """

    array: np.ndarray
    notes: list[str] = field(default_factory=list)
    source_mode: str = "RGB"
    source_size: tuple[int, int] = (0, 0)
    source_format: str | None = None


# ----------------------------------------------------------------------------- loading


def _format_mp(pixels: int) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 100 else f"{mp:.3g}"


@contextmanager
def _pillow_guard() -> Iterator[None]:
    """Pillow globals set for strict reading; warnings Pillow emits meanwhile are dropped."""
    with _pillow_lock:
        old_max, old_trunc = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = None  # our own limit is checked right after opening
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old_max, old_trunc


def _allowed_formats() -> list[str]:
    Image.init()
    return [f for f in Image.OPEN if f not in _EXCLUDED_FORMATS]


def load_image(
    source: str | os.PathLike[str] | bytes, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Read an image file (or its bytes) as 8-bit RGB; see the module docstring.

    Raises :class:`ImageReadError` with one line naming the file for every failure: not
    found, a directory, unreadable, empty, not an image, truncated or corrupt, or larger
    than ``max_pixels`` (checked before decoding). Any size from 1x1 up is accepted.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        name = "image data"
        data: bytes | None = bytes(source)
        path = None
        if not data:
            raise ImageReadError("image data is empty (0 bytes)")
        head = data[:32]
    else:
        path = Path(source)
        name = str(source)
        data = None
        head = _read_head(path, name)
    if max_pixels < 1:
        raise ImageReadError(f"the pixel limit must be at least 1, got {max_pixels}")

    try:
        with _pillow_guard():
            fp: io.BytesIO | Path
            if data is not None:
                fp = io.BytesIO(data)
            else:
                assert path is not None  # a path was given
                fp = path
            with Image.open(fp, formats=_allowed_formats()) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"{name}: {width}x{height} = {_format_mp(width * height)} MP exceeds "
                        f"the {_format_mp(max_pixels)} MP limit; raise it with --max-pixels"
                    )
                if width < 1 or height < 1:
                    raise _Unsupported("the header declares an empty image")
                kind = _full_depth_kind(im, head)
                if kind is not None:
                    if data is not None:
                        raw = data
                    else:
                        assert path is not None
                        raw = path.read_bytes()
                    loaded = _load_16bit(im, raw, kind)
                else:
                    loaded = _load_pillow(im)
    except ImageReadError:
        raise
    except _Unsupported as exc:
        raise ImageReadError(f"{name}: {exc}") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{name} is not an image Pillow can read") from None
    except MemoryError:
        raise ImageReadError(f"{name}: not enough memory to decode it") from None
    except FileNotFoundError:
        raise ImageReadError(f"{name}: file not found") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied") from None
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, ...
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageReadError(f"{name} is truncated or corrupt ({detail})") from None
    arr = np.ascontiguousarray(loaded.array)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:  # pragma: no cover
        raise ImageReadError(f"{name}: internal conversion error (got {arr.dtype} {arr.shape})")
    loaded.array = arr
    return loaded


def _read_head(path: Path, name: str) -> bytes:
    """The first bytes of the file, after checking it exists, is a file and is not empty."""
    try:
        if path.is_dir():
            raise ImageReadError(f"{name} is a directory, not an image")
        with open(path, "rb") as f:
            head = f.read(32)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{name}: file not found") from None
    except PermissionError:
        raise ImageReadError(f"{name}: permission denied") from None
    except OSError as exc:
        raise ImageReadError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise ImageReadError(f"{name} is an empty file (0 bytes)")
    return head


def _is_png16(head: bytes) -> bool:
    """True for a PNG whose IHDR declares 16 bits per sample (PNG spec 11.2.2)."""
    return (
        len(head) >= 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16
    )


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # a damaged EXIF block is not worth refusing the image
        return 1
    return value if value in _ORIENTATION_NOTES else 1


def _orientation_note(orientation: int) -> str:
    return f"EXIF orientation applied ({_ORIENTATION_NOTES[orientation]})"


def _load_pillow(im: Image.Image) -> LoadedImage:
    """Decode with Pillow, orient, and convert to RGB."""
    mode, size, fmt = im.mode, im.size, im.format
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1)
    im.load()
    if frames > 1:
        notes.append(f"first of {frames} frames used")
    orientation = _orientation(im)
    if orientation != 1:
        im = ImageOps.exif_transpose(im)
        notes.append(_orientation_note(orientation))
    arr, conv_notes = _pillow_to_rgb8(im)
    return LoadedImage(arr, notes + conv_notes, mode, size, fmt)


def _pillow_to_rgb8(im: Image.Image) -> tuple[np.ndarray, list[str]]:
    mode = im.mode
    notes: list[str] = []
    if mode.startswith("I;16"):
        gray16 = np.asarray(im).astype(np.uint32)
        notes += ["16-bit converted to 8-bit", "grayscale expanded to RGB"]
        return _gray_to_rgb(_round16(gray16)), notes
    if mode == "I":
        gray = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        notes += [
            "16-bit converted to 8-bit (32-bit integer mode, range 0..65535 assumed)",
            "grayscale expanded to RGB",
        ]
        return _gray_to_rgb(_round16(gray)), notes
    if mode == "F":
        f = np.nan_to_num(np.asarray(im).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if f.size and f.min() >= 0.0 and f.max() <= 1.0:
            f, how = f * 255.0, "range 0..1 assumed"
        else:
            how = "range 0..255 assumed, clipped"
        notes += [f"32-bit float converted to 8-bit ({how})", "grayscale expanded to RGB"]
        return _gray_to_rgb(np.clip(np.rint(f), 0, 255).astype(np.uint8)), notes

    gray_source = mode in ("1", "L", "LA", "La")
    if mode == "1":
        notes.append("1-bit converted to 8-bit")
    if mode in ("P", "PA"):
        notes.append("palette converted")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        alpha = rgba[..., 3]
        if (alpha == 255).all():
            notes.append("opaque alpha channel dropped")
            rgb = np.ascontiguousarray(rgba[..., :3])
        else:
            notes.append("alpha composited on white")
            rgb = _composite8(rgba[..., :3], alpha)
    elif mode == "RGB":
        rgb = np.asarray(im)
    elif mode in ("L", "1"):
        rgb = _gray_to_rgb(np.asarray(im.convert("L")))
    else:
        if mode not in ("P", "RGBX"):
            notes.append(f"{mode} converted to RGB")
        try:
            rgb = np.asarray(im.convert("RGB"))
        except ValueError as exc:
            raise _Unsupported(f"colour mode {mode} is not supported ({exc})") from None
    if gray_source:
        notes.append("grayscale expanded to RGB")
    return rgb, notes


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def _round16(v: np.ndarray) -> np.ndarray:
    """0..65535 integers to 0..255 as round(v / 257); exact, and never a tie."""
    return ((v + 128) // 257).astype(np.uint8)


def _composite8(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``round((c a + 255 (255 - a)) / 255)`` in integers (no ties: 255 is odd)."""
    a = alpha.astype(np.uint32)[..., None]
    num = rgb.astype(np.uint32) * a + 255 * (255 - a)
    return ((num + 127) // 255).astype(np.uint8)


def _full_depth_kind(im: Image.Image, head: bytes) -> str | None:
    """Which full-depth decoder ("png", "tiff") keeps bits Pillow would drop, or None.

    Pillow opens 16-bit RGB(A) and gray+alpha PNGs, and 16-bit RGB(A) TIFFs, as 8-bit
    modes by keeping only the high byte (16-bit grayscale it keeps whole, as ``I;16``).
    """
    if _is_png16(head):
        return "png"
    if isinstance(im, TiffImagePlugin.TiffImageFile) and im.mode in ("RGB", "RGBA"):
        bits = im.tag_v2.get(258, (8,))  # BitsPerSample
        if 16 in (bits if isinstance(bits, tuple) else (bits,)):
            return "tiff"
    return None


def _load_16bit(im: Image.Image, raw: bytes, kind: str) -> LoadedImage:
    """Decode a 16-bit PNG (libpng) or TIFF (libtiff) at full depth with imagecodecs.

    libpng also turns a PNG tRNS colour into an alpha channel. TIFF alpha is taken as
    premultiplied when ExtraSamples says "associated alpha" (1), else as straight alpha.
    Of a multi-page TIFF the first page is used, as Pillow would.
    """
    import imagecodecs

    width, height = im.size
    arr = imagecodecs.png_decode(raw) if kind == "png" else imagecodecs.tiff_decode(raw)
    if arr.dtype != np.uint16:
        raise _Unsupported(f"unexpected {arr.dtype} samples in a 16-bit {kind.upper()}")
    if arr.ndim == 2:
        arr = arr[..., None]
    elif arr.ndim == 3 and arr.shape[:2] != (height, width) and arr.shape[1:] == (height, width):
        arr = np.moveaxis(arr, 0, -1)  # planar TIFF
    if arr.shape[:2] != (height, width) or arr.shape[2] not in (1, 2, 3, 4):
        raise _Unsupported(f"unexpected 16-bit {kind.upper()} layout {arr.shape}")
    channels = arr.shape[2]
    tiff = im if isinstance(im, TiffImagePlugin.TiffImageFile) else None
    extra = tiff.tag_v2.get(338, (2,)) if tiff is not None else (2,)  # ExtraSamples
    premultiplied = (extra[0] if isinstance(extra, tuple) else extra) == 1
    notes: list[str] = ["16-bit converted to 8-bit"]
    # EXIF orientation (PNG eXIf chunk, TIFF Orientation tag), read by Pillow.
    orientation = _orientation(im)
    color = arr[..., : 1 if channels <= 2 else 3].astype(np.float64)
    if channels in (2, 4):
        alpha = arr[..., -1:].astype(np.float64)
        if (alpha == 65535).all():
            notes.append("opaque alpha channel dropped")
        else:
            notes.append("alpha composited on white")
            if premultiplied:
                color = color + (65535.0 - alpha)
            else:
                color = (color * alpha + 65535.0 * (65535.0 - alpha)) / 65535.0
    out = np.clip(np.rint(color / 257.0), 0, 255).astype(np.uint8)
    if out.shape[2] == 1:
        out = _gray_to_rgb(out[..., 0])
        notes.append("grayscale expanded to RGB")
    if orientation != 1:
        out = apply_orientation(out, orientation)
        notes.insert(0, _orientation_note(orientation))
    mode = {1: "L;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    return LoadedImage(out, notes, mode, (width, height), im.format)


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a stored ``HxW[xC]`` array to display orientation for EXIF tag 0x0112.

    The numpy equivalent of ``ImageOps.exif_transpose`` (used for arrays Pillow cannot
    hold, such as 16-bit RGB); a test checks all eight cases against Pillow.
    """
    a = array
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = a[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------- writing

_WRITE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {}),
    ".ppm": ("PPM", {}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".webp": ("WEBP", {"lossless": True, "quality": 100, "method": 4, "exact": True}),
}


def save_image_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` losslessly, atomically: temporary file in the same folder, then rename.

    The format follows the suffix: ``.png``, ``.ppm``, ``.bmp``, ``.tif``/``.tiff``
    (deflate) or ``.webp`` (lossless). ``array`` is ``uint8`` ``HxW`` (grayscale, e.g. a
    label map) or ``HxWx3`` RGB (``HxWx4`` RGBA for PNG, TIFF and WebP). On any failure
    the target is untouched, no temporary file is left, and :class:`ImageWriteError`
    (an :class:`app.errors.EdmsError`) is raised with one line.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        known = ", ".join(sorted(_WRITE_FORMATS))
        raise ImageWriteError(f"{path}: cannot write '{suffix or 'no suffix'}' files (use {known})")
    fmt, options = _WRITE_FORMATS[suffix]
    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise ImageWriteError(f"{path}: image must be uint8, got {arr.dtype}")
    channels = 1 if arr.ndim == 2 else (arr.shape[2] if arr.ndim == 3 else 0)
    if channels not in (1, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageWriteError(f"{path}: expected an HxW, HxWx3 or HxWx4 image, got {arr.shape}")
    if channels == 4 and fmt not in ("PNG", "TIFF", "WEBP"):
        raise ImageWriteError(f"{path}: {fmt} cannot store an alpha channel")
    if arr.ndim == 3 and channels == 1:
        arr = arr[..., 0]
    img = Image.fromarray(np.ascontiguousarray(arr))

    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    created = False
    try:
        # O_EXCL: never follow or reuse an existing file; 0o666 lets the umask decide.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        created = True
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if created:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError | ValueError):
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ImageWriteError(f"{path}: cannot write ({reason})") from None
        raise
