"""Tests for app.imageio: every input becomes 8-bit RGB or one clear ImageReadError."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

from app.errors import EdmsError, ImageReadError
from app.imageio import (
    ImageWriteError,
    LoadedImage,
    apply_orientation,
    load_image,
    save_image_atomic,
)
from tests import badinputs as bi


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return bi.make_bad_input_matrix(tmp_path_factory.mktemp("bad"))


def _png_with_chunk_before_idat(png: bytes, kind: bytes, data: bytes) -> bytes:
    """Insert a chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return png[:33] + chunk + png[33:]


def _check_rgb8(loaded: LoadedImage) -> None:
    a = loaded.array
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert a.flags["C_CONTIGUOUS"]


# --------------------------------------------------------------------------- the matrix


def test_matrix_has_every_named_case(matrix: dict[str, Path]) -> None:
    expected = {
        "empty", "truncated_png", "text_as_png", "tiny_1x1", "odd_7x13", "png16", "rgba",
        "gray", "cmyk_jpeg", "exif_rotated_jpeg", "huge_header_png",
    }  # fmt: skip
    assert expected <= set(matrix)
    assert all(p.exists() for p in matrix.values())
    assert set(matrix) == bi.READABLE | bi.UNREADABLE


@pytest.mark.parametrize("name", sorted(bi.UNREADABLE))
def test_unreadable_inputs_raise_one_line(matrix: dict[str, Path], name: str) -> None:
    with pytest.raises(ImageReadError) as info:
        load_image(matrix[name])
    message = str(info.value)
    assert "\n" not in message
    assert str(matrix[name]) in message


@pytest.mark.parametrize("name", sorted(bi.READABLE))
def test_readable_inputs_become_rgb8(matrix: dict[str, Path], name: str) -> None:
    _check_rgb8(load_image(matrix[name]))


def test_error_messages(matrix: dict[str, Path], tmp_path: Path) -> None:
    cases = {
        "empty": "is an empty file",
        "text_as_png": "is not an image Pillow can read",
        "truncated_png": "is truncated or corrupt",
        "huge_header_png": "60000x60000 = 3600 MP exceeds the 64 MP limit; "
        "raise it with --max-pixels",
    }
    for name, expected in cases.items():
        with pytest.raises(ImageReadError, match=expected.replace(".", r"\.")):
            load_image(matrix[name])
    with pytest.raises(ImageReadError, match="file not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="is a directory"):
        load_image(tmp_path)
    with pytest.raises(ImageReadError, match="image data is empty"):
        load_image(b"")


def test_image_read_error_is_an_edms_error() -> None:
    assert issubclass(ImageReadError, EdmsError)


# --------------------------------------------------------------------------- sizes


def test_tiny_and_odd_sizes_exact(matrix: dict[str, Path]) -> None:
    one = load_image(matrix["tiny_1x1"])
    assert np.array_equal(one.array, bi.tiny_1x1_array())
    assert one.notes == [] and one.source_size == (1, 1) and one.source_format == "PNG"
    odd = load_image(matrix["odd_7x13"])
    assert odd.array.shape == (13, 7, 3) and odd.source_size == (7, 13)
    assert np.array_equal(odd.array, bi.odd_7x13_array())


def test_bytes_source_equals_path_source(matrix: dict[str, Path]) -> None:
    path = matrix["odd_7x13"]
    from_bytes = load_image(path.read_bytes())
    assert np.array_equal(from_bytes.array, load_image(path).array)
    assert np.array_equal(load_image(bytearray(path.read_bytes())).array, from_bytes.array)


# --------------------------------------------------------------------------- conversions


def test_png16_rounds_not_truncates(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["png16"])
    v = bi.png16_array()
    assert np.array_equal(loaded.array, np.rint(v / 257.0).astype(np.uint8))
    # the deliberately chosen samples really distinguish rounding from taking the high byte
    assert loaded.array[0, 2, 0] == 200 and (v[0, 2, 0] >> 8) == 201
    assert loaded.notes == ["16-bit converted to 8-bit"]
    assert loaded.source_mode == "RGB;16"


def test_png16_gray_and_alpha(tmp_path: Path) -> None:
    gray = np.array([[0, 257 * 200 + 128, 65535]], dtype=np.uint16)
    out = load_image(imagecodecs.png_encode(gray))
    assert np.array_equal(out.array[0, :, 0], [0, 200, 255])
    assert "grayscale expanded to RGB" in out.notes and out.source_mode == "L;16"

    rgba = np.zeros((1, 3, 4), dtype=np.uint16)
    rgba[0, :, :3] = [[1000, 30000, 65535], [257 * 10, 257 * 20, 257 * 30], [0, 0, 0]]
    rgba[0, :, 3] = [0, 65535, 32768]
    out = load_image(imagecodecs.png_encode(rgba))
    assert np.array_equal(out.array[0, 0], [255, 255, 255])  # transparent -> white
    assert np.array_equal(out.array[0, 1], [10, 20, 30])  # opaque -> value / 257
    # black at alpha 32768: 65535 * 32767 / 65535 / 257 = 127.498 -> 127
    assert np.array_equal(out.array[0, 2], [127, 127, 127])
    assert "alpha composited on white" in out.notes

    la = np.zeros((2, 2, 2), dtype=np.uint16)
    la[..., 0] = 257 * 77
    la[..., 1] = 65535
    out = load_image(imagecodecs.png_encode(la))
    assert (out.array == 77).all() and "opaque alpha channel dropped" in out.notes


def test_png16_exif_orientation(tmp_path: Path) -> None:
    stored = np.zeros((4, 6, 3), dtype=np.uint16)
    stored[0, 0] = 65535  # top-left white
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 counter-clockwise to display
    tiff = exif.tobytes().removeprefix(b"Exif\x00\x00")
    data = _png_with_chunk_before_idat(imagecodecs.png_encode(stored), b"eXIf", tiff)
    out = load_image(data)
    assert out.array.shape == (6, 4, 3)
    assert (out.array[-1, 0] == 255).all() and out.array.sum() == 3 * 255  # now bottom-left
    assert out.notes[0] == "EXIF orientation applied (rotate 90 counter-clockwise)"


def test_tiff16_rgb_and_alpha() -> None:
    v = bi.png16_array()
    out = load_image(imagecodecs.tiff_encode(v))
    assert np.array_equal(out.array, np.rint(v / 257.0).astype(np.uint8))
    assert out.source_format == "TIFF" and out.source_mode == "RGB;16"

    rgba = np.zeros((1, 2, 4), dtype=np.uint16)
    rgba[0, :, :3] = [[20000] * 3, [5000] * 3]  # 5000 <= alpha: valid premultiplied too
    rgba[0, :, 3] = [65535, 16384]
    straight = imagecodecs.tiff_encode(rgba)
    entry = struct.pack("<HHIH", 338, 3, 1, 2)  # ExtraSamples = 2 (unassociated alpha)
    assert straight[:2] == b"II" and straight.count(entry) == 1
    out = load_image(straight)
    a = 16384 / 65535
    assert out.array[0, 0].tolist() == [78] * 3  # round(20000 / 257)
    assert out.array[0, 1].tolist() == [round((5000 * a + 65535 * (1 - a)) / 257)] * 3
    premultiplied = straight.replace(entry, struct.pack("<HHIH", 338, 3, 1, 1))
    out = load_image(premultiplied)
    assert out.array[0, 1].tolist() == [round((5000 + 65535 - 16384) / 257)] * 3


def test_pgm16_opened_as_mode_i() -> None:
    v = np.array([[0, 257 * 200 + 128, 65535, 1000]], dtype=">u2")
    out = load_image(b"P5\n4 1\n65535\n" + v.tobytes())
    assert out.source_mode == "I" and out.array[0, :, 0].tolist() == [0, 200, 255, 4]
    assert out.notes[0].startswith("16-bit converted to 8-bit")


def test_truncated_png16_is_refused() -> None:
    data = imagecodecs.png_encode(bi.png16_array().repeat(20, axis=0).repeat(20, axis=1))
    with pytest.raises(ImageReadError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_rgba_composited_on_white(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["rgba"])
    src = bi.rgba_array().astype(np.int64)
    out = loaded.array.astype(np.int64)
    assert (out[0] == 255).all()  # fully transparent row becomes white
    assert np.array_equal(out[2:], src[2:, :, :3])  # opaque rows unchanged
    a = src[1, :, 3:] / 255.0
    expected = np.rint(src[1, :, :3] * a + 255 * (1 - a))
    assert np.array_equal(out[1], expected)
    assert loaded.notes == ["alpha composited on white"]


def test_gray_expanded(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["gray"])
    g = bi.gray_array()
    assert all(np.array_equal(loaded.array[..., c], g) for c in range(3))
    assert loaded.notes == ["grayscale expanded to RGB"] and loaded.source_mode == "L"


def test_gray16_pillow_mode_rounds() -> None:
    v = np.array([[0, 257 * 200 + 128, 65535, 128, 129]], dtype=np.uint16)
    im = Image.fromarray(v)  # mode I;16, written as TIFF (not the PNG/imagecodecs path)
    assert im.mode == "I;16"
    buf = io.BytesIO()
    im.save(buf, format="TIFF")
    out = load_image(buf.getvalue())
    assert np.array_equal(out.array[0, :, 1], [0, 200, 255, 0, 1])
    assert "16-bit converted to 8-bit" in out.notes and out.source_mode == "I;16"


def test_gray_alpha_and_bilevel() -> None:
    la = np.zeros((2, 2, 2), dtype=np.uint8)
    la[..., 0] = 40
    la[1, :, 1] = 255  # row 0 transparent, row 1 opaque
    buf = io.BytesIO()
    Image.fromarray(la, mode="LA").save(buf, format="PNG")
    out = load_image(buf.getvalue())
    assert (out.array[0] == 255).all() and (out.array[1] == 40).all()
    assert out.notes == ["alpha composited on white", "grayscale expanded to RGB"]

    bilevel = Image.new("1", (3, 2), 0)
    bilevel.putpixel((1, 0), 1)
    buf = io.BytesIO()
    bilevel.save(buf, format="PNG")
    out = load_image(buf.getvalue())
    assert out.array[0, 1].tolist() == [255, 255, 255] and out.array.sum() == 3 * 255


def test_cmyk_jpeg(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["cmyk_jpeg"])
    assert loaded.source_mode == "CMYK" and loaded.notes == ["CMYK converted to RGB"]
    centres = [(8, 8), (8, 24), (24, 8), (24, 24)]
    for (y, x), rgb in zip(centres, bi.CMYK_QUADRANTS_RGB, strict=True):
        assert np.abs(loaded.array[y, x].astype(int) - rgb).max() <= 8, (y, x)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_jpeg(tmp_path: Path, orientation: int) -> None:
    loaded = load_image(bi.write_exif_rotated_jpeg(tmp_path, orientation))
    assert loaded.source_size == (64, 32)  # stored landscape
    assert loaded.array.shape == (64, 32, 3)  # displayed portrait
    red, green, blue, white = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
    if orientation == 6:  # rotate 90 clockwise: stored top-left goes to the top-right
        expected = {(8, 24): red, (56, 24): green, (8, 8): blue, (56, 8): white}
        note = "rotate 90 clockwise"
    else:  # rotate 90 counter-clockwise: stored top-left goes to the bottom-left
        expected = {(56, 8): red, (8, 8): green, (56, 24): blue, (8, 24): white}
        note = "rotate 90 counter-clockwise"
    for (y, x), rgb in expected.items():
        assert np.abs(loaded.array[y, x].astype(int) - rgb).max() <= 10, (orientation, y, x)
    assert loaded.notes == [f"EXIF orientation applied ({note})"]


def test_matrix_exif_entry_is_orientation_6(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["exif_rotated_jpeg"])
    assert loaded.array.shape == (64, 32, 3)
    assert loaded.array[8, 24, 0] > 200 and loaded.array[8, 24, 1] < 50  # red top-right


@pytest.mark.parametrize("orientation", range(1, 9))
def test_apply_orientation_matches_pillow(orientation: int) -> None:
    stored = bi.odd_7x13_array()
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=exif)
    buf.seek(0)
    with Image.open(buf) as reopened:
        reopened.load()
        expected = np.asarray(ImageOps.exif_transpose(reopened))
    assert np.array_equal(apply_orientation(stored, orientation), expected)
    assert np.array_equal(load_image(buf.getvalue()).array, expected)


def test_palette_with_transparency(matrix: dict[str, Path]) -> None:
    loaded = load_image(matrix["palette_transparent"])
    idx = bi.palette_indices()
    expected = np.array(bi.PALETTE, dtype=np.uint8)[idx]
    expected[idx == 0] = 255
    assert np.array_equal(loaded.array, expected)
    assert loaded.notes == ["palette converted", "alpha composited on white"]


def test_single_colour_transparency() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.array([[10, 20, 30]], np.uint8)).save(buf, format="PNG", transparency=20)
    out = load_image(buf.getvalue())
    assert out.array[0, :, 0].tolist() == [10, 255, 30]
    buf = io.BytesIO()
    rgb = np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)
    Image.fromarray(rgb).save(buf, format="PNG", transparency=(4, 5, 6))
    out = load_image(buf.getvalue())
    assert out.array[0].tolist() == [[1, 2, 3], [255, 255, 255]]
    assert out.notes == ["alpha composited on white"]


def test_palette_without_transparency_and_multiframe_gif() -> None:
    frames = [Image.new("P", (4, 3), i) for i in range(3)]
    for f in frames:
        f.putpalette([0, 0, 0, 200, 10, 10, 10, 200, 10])
    buf = io.BytesIO()
    frames[1].save(buf, format="GIF", save_all=True, append_images=[frames[2], frames[0]])
    out = load_image(buf.getvalue())
    assert (out.array == [200, 10, 10]).all()
    assert out.notes == ["first of 3 frames used", "palette converted"]


# --------------------------------------------------------------------------- limits


def test_huge_header_refused_before_decoding(matrix: dict[str, Path]) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ImageReadError):
        load_image(matrix["huge_header_png"])
    assert time.perf_counter() - t0 < 1.0  # decoding 3600 MP would take minutes and 10 GB


def test_pixel_limit_is_configurable(matrix: dict[str, Path]) -> None:
    path = matrix["odd_7x13"]  # 91 pixels
    assert load_image(path, max_pixels=91).array.shape == (13, 7, 3)
    with pytest.raises(ImageReadError, match=r"7x13 = 9.1e-05 MP exceeds the 9e-05 MP limit"):
        load_image(path, max_pixels=90)


def test_pillow_bomb_machinery_does_not_leak() -> None:
    # 10000x10000 = 100 MP: above Pillow's own warning threshold (~89 MP), below its error.
    data = bi.huge_header_png_bytes(10000, 10000)
    before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageReadError, match="10000x10000 = 100 MP exceeds the 64 MP"):
            load_image(data)
    assert not [w for w in caught if "PIL" in w.filename or "DecompressionBomb" in str(w)]
    assert before == Image.MAX_IMAGE_PIXELS


def test_truncated_refused_even_if_someone_enabled_load_truncated(
    matrix: dict[str, Path],
) -> None:
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(ImageReadError, match="truncated"):
            load_image(matrix["truncated_png"])
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _valid_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(bi.odd_7x13_array()).save(buf, format="PNG")
    return buf.getvalue()


_PNG = _valid_png()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=1, max_value=len(_PNG)),
    flips=st.lists(st.tuples(st.integers(0, len(_PNG) - 1), st.integers(0, 7)), max_size=4),
)
def test_damaged_png_never_raises_anything_else(cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(_PNG[:cut])
    for pos, bit in flips:
        if pos < len(data):
            data[pos] ^= 1 << bit
    try:
        loaded = load_image(bytes(data))
    except ImageReadError as exc:
        assert "\n" not in str(exc)
    else:
        _check_rgb8(loaded)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    with contextlib.suppress(ImageReadError):
        _check_rgb8(load_image(data))


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", [".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp"])
def test_save_roundtrip_lossless(tmp_path: Path, suffix: str) -> None:
    arr = np.random.default_rng(3).integers(0, 256, size=(13, 7, 3), dtype=np.uint8)
    path = tmp_path / f"out{suffix}"
    save_image_atomic(path, arr)
    assert np.array_equal(load_image(path).array, arr)
    assert os.listdir(tmp_path) == [path.name]


def test_save_gray_label_map(tmp_path: Path) -> None:
    labels = (np.arange(12).reshape(3, 4) % 12).astype(np.uint8)
    save_image_atomic(tmp_path / "labels.png", labels)
    with Image.open(tmp_path / "labels.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), labels)
    save_image_atomic(tmp_path / "labels1.png", labels[..., None])  # HxWx1 too
    with Image.open(tmp_path / "labels1.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), labels)


def test_save_refuses_bad_requests(tmp_path: Path) -> None:
    arr = np.zeros((2, 2, 3), dtype=np.uint8)
    with pytest.raises(ImageWriteError, match="cannot write '.jpg' files"):
        save_image_atomic(tmp_path / "x.jpg", arr)
    with pytest.raises(ImageWriteError, match="must be uint8"):
        save_image_atomic(tmp_path / "x.png", arr.astype(np.float32))
    with pytest.raises(ImageWriteError, match="expected an HxW"):
        save_image_atomic(tmp_path / "x.png", np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(ImageWriteError, match="cannot store an alpha"):
        save_image_atomic(tmp_path / "x.ppm", np.zeros((2, 2, 4), dtype=np.uint8))
    with pytest.raises(ImageWriteError, match="cannot write"):
        save_image_atomic(tmp_path / "no" / "such" / "dir.png", arr)
    assert issubclass(ImageWriteError, EdmsError)
    assert os.listdir(tmp_path) == []


def test_save_failure_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"previous content")

    def broken_save(self: Image.Image, fp: io.BufferedWriter, *args: object, **kw: object) -> None:
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImageWriteError, match="No space left on device"):
        save_image_atomic(path, np.zeros((4, 4, 3), dtype=np.uint8))
    assert path.read_bytes() == b"previous content"
    assert os.listdir(tmp_path) == ["out.png"]
