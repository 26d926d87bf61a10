"""Tests of app.codecs: round trips, corrupt data, size limits, HEVC framing, selection."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

import app.codecs.base as codec_base
from app.codecs import (
    BASELINE_KNOBS,
    BASELINE_LABELS,
    CODEC_IDS,
    HevcCodec,
    LayerCodec,
    baseline_codec,
    codec_name,
    decode_layer,
    default_lossless_candidates,
    encode_smallest_lossless,
    hevc,
    jpegxl_lossless,
    png,
    raw,
    webp_lossless,
)
from app.codecs.hevc import decode_heif, parse_layer
from app.codecs.lossless import jxl_size
from app.errors import CodecError

RNG = np.random.default_rng(1234)


def natural(height: int = 64, width: int = 96) -> np.ndarray:
    """A crop of a natural photograph (bundled with scikit-image)."""
    return np.ascontiguousarray(skimage.data.astronaut()[120 : 120 + height, 180 : 180 + width])


def label_map(height: int = 48, width: int = 64, classes: int = 12) -> np.ndarray:
    """Blocky class-index map, like a segmentation."""
    coarse = RNG.integers(0, classes, (height // 8 + 1, width // 8 + 1)).astype(np.uint8)
    return np.ascontiguousarray(np.kron(coarse, np.ones((8, 8), np.uint8))[:height, :width])


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(peak**2 / max(mse, 1e-12))


def lossless_codecs() -> list[LayerCodec]:
    return [jpegxl_lossless(), png(), webp_lossless(), raw()]


def lossy_codecs() -> list[LayerCodec]:
    return [baseline_codec(n, k.default) for n, k in BASELINE_KNOBS.items()]


def ids(codecs: list[LayerCodec]) -> list[str]:
    return [c.name for c in codecs]


# --------------------------------------------------------------------------- ids


def test_codec_ids_are_stable() -> None:
    # part of the .edms format: a failure here means a renumbered id, which is forbidden
    assert CODEC_IDS == {
        0: "none", 1: "raw", 2: "hevc", 3: "jpegxl", 4: "png",
        5: "webp", 6: "jpeg", 7: "jpeg2000", 8: "avif", 9: "rans", 10: "classes",
        11: "bitplanes-ctx",
    }
    for codec in lossless_codecs() + lossy_codecs():
        assert codec.codec_id in CODEC_IDS
        assert codec_name(codec.codec_id) == CODEC_IDS[codec.codec_id]


@pytest.mark.parametrize("bad_id", [12, 255, -1, "2", None])
def test_unknown_codec_id_raises(bad_id: object) -> None:
    with pytest.raises(CodecError):
        decode_layer(bad_id, b"\x01\x01\x01\x00")  # type: ignore[arg-type]
    with pytest.raises(CodecError):
        codec_name(bad_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("codec_id", [0, 9, 10, 11])
def test_non_image_codec_ids_are_named_but_not_decoded(codec_id: int) -> None:
    assert codec_name(codec_id) in ("none", "rans", "classes", "bitplanes-ctx")
    with pytest.raises(CodecError, match="not an image codec"):
        decode_layer(codec_id, b"\x01\x01\x01\x00")


# --------------------------------------------------------------------------- lossless

ARRAYS = {
    "1x1": np.array([[7]], np.uint8),
    "7x13": RNG.integers(0, 256, (7, 13)).astype(np.uint8),
    "33x17x3": RNG.integers(0, 256, (33, 17, 3)).astype(np.uint8),
    "labels": label_map(),
    "natural": natural(),
}


@pytest.mark.parametrize("codec", lossless_codecs(), ids=ids(lossless_codecs()))
@pytest.mark.parametrize("key", list(ARRAYS))
def test_lossless_round_trip_is_exact(codec: LayerCodec, key: str) -> None:
    array = ARRAYS[key]
    data = codec.encode(array)
    assert codec.lossless
    for out in (codec.decode(data), decode_layer(codec.codec_id, data)):
        assert out.shape == array.shape and out.dtype == np.uint8
        assert np.array_equal(out, array)


def test_jxl_size_header_matches() -> None:
    for shape in [(1, 1), (8, 8), (9, 16), (512, 768, 3), (360, 480), (1000, 3, 3)]:
        array = np.zeros(shape, np.uint8)
        assert jxl_size(jpegxl_lossless(7).encode(array)) == (shape[1], shape[0])


@pytest.mark.parametrize("key", ["1x1", "labels", "natural"])
def test_encode_smallest_lossless_picks_smallest(key: str) -> None:
    array = ARRAYS[key]
    sizes = {c.codec_id: len(c.encode(array)) for c in default_lossless_candidates()}
    codec_id, data = encode_smallest_lossless(array)
    assert len(data) == min(sizes.values())
    assert sizes[codec_id] == len(data)
    assert np.array_equal(decode_layer(codec_id, data), array)


def test_encode_smallest_lossless_choices() -> None:
    assert encode_smallest_lossless(ARRAYS["1x1"])[0] == 1  # raw beats every real codec
    assert encode_smallest_lossless(ARRAYS["labels"])[0] != 1
    only_png = encode_smallest_lossless(ARRAYS["labels"], candidates=[png()])
    assert only_png[0] == 4
    # a lossy candidate never wins: it does not reproduce the array
    codec_id, _ = encode_smallest_lossless(natural(), candidates=[hevc(51), png()])
    assert codec_id == 4
    with pytest.raises(CodecError):
        encode_smallest_lossless(natural(), candidates=[hevc(51)])
    with pytest.raises(CodecError):
        encode_smallest_lossless(natural(), candidates=[])


# --------------------------------------------------------------------------- lossy


@pytest.mark.parametrize("codec", lossy_codecs(), ids=ids(lossy_codecs()))
def test_lossy_round_trip(codec: LayerCodec) -> None:
    array = natural()
    data = codec.encode(array)
    out = decode_layer(codec.codec_id, data)
    assert out.shape == array.shape and out.dtype == np.uint8
    assert psnr(array, out) > 27.0
    assert len(data) < array.size  # it compressed
    gray = array[:, :, 1].copy()
    out = decode_layer(codec.codec_id, codec.encode(gray))
    assert out.shape == gray.shape and out.dtype == np.uint8
    assert psnr(gray, out) > 27.0


@pytest.mark.parametrize("name", list(BASELINE_KNOBS))
def test_baseline_knobs(name: str) -> None:
    knob = BASELINE_KNOBS[name]
    minimum, maximum, default, sweep, higher_is_better = knob
    assert minimum <= default <= maximum
    assert list(sweep) == sorted(set(sweep)) and minimum <= sweep[0] and sweep[-1] <= maximum
    assert name in BASELINE_LABELS
    # the direction flag is right: the best setting of the sweep costs more bytes
    array = natural()
    low, high = (sweep[0], sweep[-1]) if higher_is_better else (sweep[-1], sweep[0])
    assert len(baseline_codec(name, low).encode(array)) < len(
        baseline_codec(name, high).encode(array)
    )
    with pytest.raises(CodecError):
        baseline_codec(name, maximum + 1)
    with pytest.raises(CodecError):
        baseline_codec(name, minimum - 1)


def test_unknown_baseline() -> None:
    with pytest.raises(CodecError):
        baseline_codec("bpg", 30)


# --------------------------------------------------------------------------- HEVC


HEVC_SHAPES = [(1, 1), (7, 13), (33, 17)]


@pytest.mark.parametrize("bit_depth", [8, 10])
@pytest.mark.parametrize("chroma", [444, 420])
@pytest.mark.parametrize("shape", [*HEVC_SHAPES, "natural", "gray"])
def test_hevc_stripped_layer_decodes_like_full_heif(
    shape: tuple[int, int] | str, chroma: int, bit_depth: int
) -> None:
    if shape == "natural":
        array = natural()
    elif shape == "gray":
        array = natural(31, 45)[:, :, 0].copy()
    else:
        array = RNG.integers(0, 256, (*shape, 3)).astype(np.uint8)
    if bit_depth == 10:
        array = array.astype(np.uint16) * 4 + RNG.integers(0, 4, array.shape).astype(np.uint16)
    codec = HevcCodec(30, chroma=chroma, bit_depth=bit_depth)
    full = codec.encode_full_heif(array)
    layer = codec.strip(full, array.shape[1], array.shape[0])
    assert layer == codec.encode(array)  # encoding is deterministic
    assert len(full) - len(layer) > 250  # the HEIF boxes are gone
    reference = decode_heif(full)
    out = decode_layer(2, layer)
    assert out.dtype == reference.dtype == array.dtype
    assert out.shape == reference.shape == array.shape
    assert np.array_equal(out, reference)
    if shape == "natural":
        assert psnr(array, out, 255.0 if bit_depth == 8 else 1023.0) > 30.0


def test_hevc_10bit_round_trip() -> None:
    yy, xx = np.mgrid[0:48, 0:64]
    base = (xx * 16 + yy * 5) % 1024
    array = np.stack([base, 1023 - base, (base * 3) % 1024], axis=2).astype(np.uint16)
    array = np.minimum(array, 1023).astype(np.uint16)
    codec = HevcCodec(4, chroma=444, bit_depth=10)
    layer = codec.encode(array)
    assert parse_layer(layer)[4].bit_depth_luma == 10
    out = codec.decode(layer)
    assert out.dtype == np.uint16 and out.shape == array.shape
    assert int(out.max()) <= 1023
    assert psnr(array, out, 1023.0) > 45.0
    # 8-bit coding of the same content loses the two low bits: clearly worse
    out8 = HevcCodec(4, bit_depth=8).decode(HevcCodec(4).encode((array >> 2).astype(np.uint8)))
    assert psnr(array, out8.astype(np.uint16) * 4, 1023.0) < psnr(array, out, 1023.0)


def test_hevc_rejects_bad_input() -> None:
    with pytest.raises(CodecError):
        HevcCodec(52)
    with pytest.raises(CodecError):
        HevcCodec(30, chroma=411)
    with pytest.raises(CodecError):
        HevcCodec(30, bit_depth=12)
    with pytest.raises(CodecError):
        HevcCodec(30, bit_depth=10).encode(np.full((8, 8, 3), 1024, np.uint16))
    with pytest.raises(CodecError):
        HevcCodec(30, bit_depth=10).encode(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(CodecError):
        HevcCodec(30).encode(np.zeros((8, 8, 3), np.uint16))


# --------------------------------------------------------------------------- bad data


ALL_CODECS = lossless_codecs() + lossy_codecs() + [hevc(30, 420), hevc(30, bit_depth=10)]


def _encode_small(codec: LayerCodec) -> tuple[np.ndarray, bytes]:
    array = natural(24, 40)
    if getattr(codec, "bit_depth", 8) == 10:
        array = array.astype(np.uint16) * 4
    return array, codec.encode(array)


@pytest.mark.parametrize("codec", ALL_CODECS, ids=ids(ALL_CODECS))
def test_truncated_or_garbage_data_raises_codec_error(codec: LayerCodec) -> None:
    _, data = _encode_small(codec)
    rng = np.random.default_rng(7)
    for cut in sorted({0, 1, 5, 20, len(data) // 2, len(data) - 10, len(data) - 1}):
        with pytest.raises(CodecError):
            decode_layer(codec.codec_id, data[:cut])
    for _ in range(3):
        with pytest.raises(CodecError):
            decode_layer(codec.codec_id, rng.bytes(len(data)))
    # bit errors inside the payload cannot always be detected (the container's checksum
    # does that), but they must never surface as another exception type
    for _ in range(5):
        bad = bytearray(data)
        pos = int(rng.integers(len(bad) // 4, len(bad)))
        bad[pos] ^= 0x5A
        try:
            out = decode_layer(codec.codec_id, bytes(bad))
        except CodecError:
            continue
        assert isinstance(out, np.ndarray)


@pytest.mark.parametrize("codec", ALL_CODECS, ids=ids(ALL_CODECS))
def test_pixel_limit_is_checked_before_decoding(
    codec: LayerCodec, monkeypatch: pytest.MonkeyPatch
) -> None:
    array, data = _encode_small(codec)
    monkeypatch.setattr(codec_base, "MAX_PIXELS", array.shape[0] * array.shape[1] - 1)
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode_layer(codec.codec_id, data)


def test_huge_header_sizes_are_refused() -> None:
    from app.codecs.base import write_varint

    huge = write_varint(1 << 15) + write_varint(1 << 15)  # 2**30 pixels
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode_layer(1, b"\x03" + huge + b"\x00" * 16)
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode_layer(2, huge + b"\x00" * 16)
    png_data = bytearray(png().encode(natural(8, 8)))
    png_data[16:24] = (70000).to_bytes(4, "big") * 2
    with pytest.raises(CodecError, match="exceeds the limit"):
        decode_layer(4, bytes(png_data))


@pytest.mark.parametrize("codec", ALL_CODECS, ids=ids(ALL_CODECS))
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((2, 4, 4, 3), np.uint8),
        [[1, 2], [3, 4]],
    ],
    ids=["empty", "rgba", "float", "4d", "list"],
)
def test_encode_rejects_unsupported_arrays(codec: LayerCodec, bad: object) -> None:
    with pytest.raises(CodecError):
        codec.encode(bad)  # type: ignore[arg-type]
