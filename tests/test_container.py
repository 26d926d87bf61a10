"""Tests of the .edms container (docs/edms-format.md, format version 1).

Malformed files are built with an independent writer (``raw_file``) that follows the
spec byte by byte but validates nothing, so the reader's checks are exercised one at a
time with otherwise valid headers (correct CRCs).
"""

from __future__ import annotations

import os
import re
import tracemalloc
import zlib
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import container
from app.container import (
    EdmsFormatError,
    describe,
    from_bytes,
    header_size,
    read_edms,
    to_bytes,
    write_edms,
)
from app.errors import EdmsError
from app.pipelines.base import Encoded, Layer, LayerKind

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- helpers


def uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def _field(value: int | bytes) -> bytes:
    return value if isinstance(value, bytes) else uvarint(value)


def raw_file(
    *,
    magic: bytes = b"EDMS",
    fmt: int = 1,
    pipeline: bytes = b"hevc",
    pipeline_len: int | bytes | None = None,
    pversion: int | bytes = 1,
    fingerprint: bytes = b"",
    fp_len: int | bytes | None = None,
    width: int | bytes = 768,
    height: int | bytes = 512,
    params: tuple = ((b"qp", 32),),
    n_params: int | bytes | None = None,
    layers: tuple = ((1, 5, b"payload"),),
    n_layers: int | bytes | None = None,
    body_extra: bytes = b"",
    body_len: int | bytes | None = None,
    header_crc: int | None = None,
    payload: bytes | None = None,
    trailing: bytes = b"",
) -> bytes:
    """A file laid out as the spec says, with any field overridable and no checks."""
    body = bytearray()
    body += _field(len(pipeline) if pipeline_len is None else pipeline_len) + pipeline
    body += _field(pversion)
    body += _field(len(fingerprint) if fp_len is None else fp_len) + fingerprint
    body += _field(width) + _field(height)
    body += _field(len(params) if n_params is None else n_params)
    for name, value in params:
        body += (
            uvarint(len(name)) + name + _field(zigzag(value) if isinstance(value, int) else value)
        )
    body += _field(len(layers) if n_layers is None else n_layers)
    for layer in layers:
        kind, codec, data = layer[:3]
        length = layer[3] if len(layer) > 3 else len(data)
        body += bytes((kind, codec)) + _field(length) + zlib.crc32(data).to_bytes(4, "little")
    body += body_extra
    head = magic + bytes((fmt,)) + _field(len(body) if body_len is None else body_len) + body
    crc = zlib.crc32(head) if header_crc is None else header_crc
    if payload is None:
        payload = b"".join(layer[2] for layer in layers)
    return head + crc.to_bytes(4, "little") + payload + trailing


def hevc_like(payload: bytes = bytes(20000)) -> Encoded:
    return Encoded("hevc", 1, b"", 768, 512, {"qp": 32}, [Layer(LayerKind.IMAGE, 5, payload)])


def dsslic_like(sizes: tuple[int, int, int] = (3000, 4000, 20000)) -> Encoded:
    kinds = (LayerKind.SEMANTIC_MAP, LayerKind.COMPACT_IMAGE, LayerKind.RESIDUAL)
    return Encoded(
        "dsslic",
        1,
        bytes.fromhex("1a2b3c4d5e6f7081"),
        768,
        512,
        {"qp": 32},
        [
            Layer(k, c, bytes([i]) * n)
            for i, (k, c, n) in enumerate(zip(kinds, (8, 2, 5), sizes, strict=True))
        ],
    )


def same(a: Encoded, b: Encoded) -> bool:
    fields = ("pipeline", "pipeline_version", "model_fingerprint", "width", "height")
    return (
        all(getattr(a, f) == getattr(b, f) for f in fields)
        and dict(a.params) == dict(b.params)
        and [(int(x.kind), x.codec_id, bytes(x.data)) for x in a.layers]
        == [(int(x.kind), x.codec_id, bytes(x.data)) for x in b.layers]
    )


def rejects(data: bytes, pattern: str) -> str:
    with pytest.raises(EdmsFormatError, match=pattern) as info:
        from_bytes(data)
    return str(info.value)


# --------------------------------------------------------------------------- round trip


ROUND_TRIP = [
    hevc_like(),
    dsslic_like(),
    Encoded("x", 0, b"", 1, 1, {}, [Layer(LayerKind.LATENT, 0, b"")]),
    Encoded(
        "a-b-9" + "z" * 27,
        2**31 - 1,
        bytes(range(64)),
        65535,
        4096,  # 65535 x 4096 is just under MAX_PIXELS = 2**28
        {f"p{i:02d}_x": v for i, v in enumerate([-(2**31), 2**31 - 1, 0, -1, 1] * 6)},
        [Layer(LayerKind(k % 6 + 1), k % 256, bytes([k]) * k) for k in range(64)],
    ),
]


@pytest.mark.parametrize("encoded", ROUND_TRIP, ids=["hevc", "dsslic", "minimal", "maximal"])
def test_round_trip(encoded: Encoded) -> None:
    data = to_bytes(encoded)
    back = from_bytes(data)
    assert same(back, encoded)
    assert back.reconstruction is None and back.views == {}
    assert all(isinstance(layer.kind, LayerKind) for layer in back.layers)
    assert to_bytes(back) == data  # canonical
    for view in (bytearray(data), memoryview(data)):
        assert same(read_edms(view), encoded)


def test_params_sorted_so_output_is_deterministic() -> None:
    a = hevc_like(b"x")
    b = hevc_like(b"x")
    a.params = {"qp": 1, "b": 2, "a_1": -3}
    b.params = {"a_1": -3, "qp": 1, "b": 2}
    assert to_bytes(a) == to_bytes(b)
    assert list(from_bytes(to_bytes(a)).params) == ["a_1", "b", "qp"]


def test_numpy_integers_and_bytes_like_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    enc = Encoded(
        "hevc",
        np.int64(1),
        bytearray(b"\x01\x02"),
        np.int32(768),
        np.uint16(512),
        {"qp": np.int8(-5)},
        [Layer(LayerKind.IMAGE, np.uint8(5), memoryview(b"abc"))],
    )
    back = from_bytes(to_bytes(enc))
    assert (back.width, back.params, back.layers[0].data) == (768, {"qp": -5}, b"abc")


def test_write_and_read_path(tmp_path: Path) -> None:
    path = tmp_path / "out.edms"
    n = write_edms(path, dsslic_like())
    assert n == path.stat().st_size == len(to_bytes(dsslic_like()))
    assert same(read_edms(path), dsslic_like())
    assert same(read_edms(str(path)), dsslic_like())
    assert os.listdir(tmp_path) == ["out.edms"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------- overhead


def test_overhead_typical_files() -> None:
    """The numbers quoted in docs/edms-format.md ("Overhead")."""
    hevc, dss = hevc_like(), dsslic_like()
    assert header_size(hevc) == 36
    assert header_size(dss) == 62
    assert len(to_bytes(hevc)) == 20000 + 36
    assert len(to_bytes(dss)) == 27000 + 62
    for enc in (hevc, dss):
        assert header_size(enc) < 100


@pytest.mark.parametrize(
    ("marker", "encoded", "size"),
    [("example-hevc", hevc_like(), 36), ("example-dsslic", dsslic_like(), 62)],
)
def test_documented_examples_byte_for_byte(marker: str, encoded: Encoded, size: int) -> None:
    """The worked hex examples of docs/edms-format.md are what the writer produces."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "edms-format.md").read_text()
    block = re.search(rf"<!-- {marker} -->\n```text\n(.*?)```", doc, re.S)
    assert block, f"worked example {marker} not found in docs/edms-format.md"
    documented = bytes.fromhex("".join(line.split("|")[0] for line in block.group(1).splitlines()))
    data = to_bytes(encoded)
    assert len(documented) == size == header_size(encoded)
    assert data[:size] == documented
    payload = b"".join(layer.data for layer in encoded.layers)
    assert data[size:] == payload


def test_independent_writer_agrees() -> None:
    """raw_file (the spec, written separately) and to_bytes give identical files."""
    assert raw_file(layers=((1, 5, bytes(20000)),)) == to_bytes(hevc_like())


# --------------------------------------------------------------------------- describe


def test_describe_bytes_path_and_encoded(tmp_path: Path) -> None:
    enc = dsslic_like()
    path = tmp_path / "d.edms"
    write_edms(path, enc)
    infos = [describe(enc), describe(to_bytes(enc)), describe(path)]
    assert infos[0] == infos[1] == infos[2]
    info = infos[0]
    assert info["pipeline"] == "dsslic" and info["model_fingerprint"] == "1a2b3c4d5e6f7081"
    assert (info["width"], info["height"], info["params"]) == (768, 512, {"qp": 32})
    assert [(x["kind"], x["codec_id"], x["bytes"]) for x in info["layers"]] == [
        ("semantic_map", 8, 3000),
        ("compact_image", 2, 4000),
        ("residual", 5, 20000),
    ]
    assert info["layers"][2]["crc32"] == f"{zlib.crc32(bytes([2]) * 20000):08x}"
    assert (info["header_bytes"], info["payload_bytes"], info["total_bytes"]) == (62, 27000, 27062)
    assert info["bpp"] == pytest.approx(27062 * 8 / (768 * 512))
    with pytest.raises(EdmsFormatError, match="CRC"):
        describe(to_bytes(enc)[:-1] + b"\x00")


# --------------------------------------------------------------------------- bad input

BAD_INPUTS = {
    "empty": (b"", r"^truncated: 0 byte"),
    "magic only": (b"EDMS", r"^truncated: 4 byte"),
    "bad magic": (b"PK\x03\x04" + bytes(40), r"^not an \.edms file"),
    "short bad magic": (b"ED", r"^truncated"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(30), r"^not an \.edms file"),
    "version 0": (raw_file(fmt=0),
                  r"unsupported \.edms format version 0 .*supports versions 1, 2"),
    "check layer in version 1": (raw_file(layers=((1, 5, b"p"), (7, 0, b"12345678"))),
                                 r"unknown layer kind 7"),
    "version 2 without check": (raw_file(fmt=2), r"exactly one check layer"),
    "short check layer": (raw_file(fmt=2, layers=((1, 5, b"p"), (7, 0, b"1234567"))),
                          r"exactly one check layer"),
    "version 3": (raw_file(fmt=3), r"unsupported \.edms format version 3"),
    "header crc": (raw_file(header_crc=0x12345678), r"corrupt header: CRC-32 mismatch .*12345678"),
    "layer crc": (
        raw_file(payload=b"paylaod"),
        r"corrupt layer 0 \(image\): CRC-32 mismatch",
    ),
    "trailing": (raw_file(trailing=b"\x00"), r"^over-long: 1 trailing byte"),
    "trailing valid file": (raw_file() * 2, r"^over-long: \d+ trailing byte"),
    "payload short": (raw_file(payload=b"pay"), r"^truncated: layers 0\.\.0 need 7 payload bytes"),
    "width 0": (raw_file(width=0), r"image width = 0 at byte \d+ is out of range 1\.\.65535"),
    "height 0": (raw_file(height=0), r"image height = 0 .* out of range 1\.\.65535"),
    "width 65536": (raw_file(width=65536), r"image width = 65536 .*out of range"),
    "100000x100000": (raw_file(width=100000, height=100000), r"image width = 100000 .*range"),
    "too many pixels": (
        raw_file(width=40000, height=40000),
        r"inconsistent header: image 40000x40000 has 1600000000 pixels, over the limit",
    ),
    "no layers": (raw_file(layers=()), r"layer count = 0 .*out of range 1\.\.64"),
    "65 layers": (raw_file(layers=((1, 5, b""),) * 65), r"layer count = 65 .*out of range 1\.\.64"),
    "4 GB layer": (
        raw_file(layers=((1, 5, b"payload", 2**32),)),
        r"^truncated: layers 0\.\.0 need 4294967296 payload bytes, only 7 follow",
    ),
    "2**64 layer": (
        raw_file(layers=((1, 5, b"x", 2**64),)),
        r"layer 0 length = 18446744073709551616 .*out of range",
    ),
    "lengths exceed data": (
        raw_file(layers=((1, 5, b"aa"), (4, 5, b"bb", 10**9))),
        r"^truncated: layers 0\.\.1 need 1000000002 payload bytes, only 4 follow",
    ),
    "unknown kind 0": (raw_file(layers=((0, 5, b"x"),)), r"unknown layer kind 0 for layer 0"),
    "unknown kind 7": (
        raw_file(layers=((1, 5, b"x"), (7, 5, b"y"))),
        r"unknown layer kind 7 for layer 1 at byte \d+",
    ),
    "pipeline bad utf-8": (
        raw_file(pipeline=b"\xff\xfe"),
        r"inconsistent header: pipeline id b'\\xff\\xfe' at byte 7 is not valid",
    ),
    "pipeline upper case": (raw_file(pipeline=b"HEVC"), r"pipeline id b'HEVC' .*not valid"),
    "pipeline utf-8": (raw_file(pipeline="hévc".encode()), r"pipeline id .* not valid"),
    "pipeline empty": (raw_file(pipeline=b""), r"pipeline id length = 0 .*out of range 1\.\.32"),
    "pipeline too long": (raw_file(pipeline=b"a" * 33), r"pipeline id length = 33 .*1\.\.32"),
    "param bad ascii": (
        raw_file(params=((b"q\x00", 1),)),
        r"parameter 0 name b'q\\x00' at byte \d+ is not valid",
    ),
    "param utf-8": (raw_file(params=(("qé".encode(), 1),)), r"parameter 0 name .* not valid"),
    "param starts with digit": (raw_file(params=((b"1q", 1),)), r"parameter 0 name b'1q'"),
    "param name too long": (
        raw_file(params=((b"a" * 17, 1),)),
        r"parameter 0 name length = 17 .*1\.\.16",
    ),
    "duplicate param": (
        raw_file(params=((b"qp", 1), (b"qp", 2))),
        r"inconsistent header: duplicate parameter name 'qp'",
    ),
    "unsorted params": (
        raw_file(params=((b"qp", 1), (b"a", 2))),
        r"parameter names not in ascending order \('qp' before 'a'\)",
    ),
    "33 params": (
        raw_file(params=tuple((b"p%02d" % i, i) for i in range(33))),
        r"parameter count = 33 .*out of range 0\.\.32",
    ),
    "param value over int32": (
        raw_file(params=((b"qp", 2**31),)),
        r"parameter 'qp' value = 4294967296 .*out of range",
    ),
    "fingerprint too long": (
        raw_file(fingerprint=bytes(65)),
        r"model fingerprint length = 65 .*out of range 0\.\.64",
    ),
    "pipeline version too big": (raw_file(pversion=2**31), r"pipeline version = 2147483648 "),
    "overlong varint width": (
        raw_file(width=b"\x80\x86\x00"),
        r"overlong varint for image width at byte \d+: 3 bytes",
    ),
    "overlong varint zero": (raw_file(n_params=b"\x80\x00", params=()), r"overlong varint for "),
    "varint over 10 bytes": (
        raw_file(layers=((1, 5, b"", b"\xff" * 11),)),
        r"varint for layer 0 length at byte \d+ is longer than 10 bytes",
    ),
    "overlong body length": (raw_file(body_len=b"\x9a\x80\x00"), r"overlong varint for header"),
    "body length too big": (raw_file(body_len=5000), r"header body length = 5000 .*1\.\.4096"),
    "body length zero": (raw_file(body_len=0), r"header body length = 0 .*out of range"),
    "body length beyond file": (
        raw_file(body_len=4000),
        r"^truncated: header needs 4011 bytes, the file has 42",
    ),
    "extra header bytes": (
        raw_file(body_extra=b"\x00\x00"),
        r"inconsistent header: 2 unexpected byte\(s\) after the layer table",
    ),
    "field past header end": (
        raw_file(n_layers=2),
        r"corrupt header: layer 1 kind at byte \d+ runs past the end of the header",
    ),
    "count past header end": (
        raw_file(fp_len=60),
        r"corrupt header: model fingerprint at byte 13 runs past the end of the header",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_rejected_precisely(case: str) -> None:
    data, pattern = BAD_INPUTS[case]
    message = rejects(data, pattern)
    assert "\n" not in message


def test_error_type() -> None:
    with pytest.raises(EdmsFormatError) as info:
        from_bytes(b"nope")
    assert isinstance(info.value, EdmsError) and isinstance(info.value, ValueError)


def test_every_truncation_is_rejected() -> None:
    data = to_bytes(dsslic_like((3, 0, 5)))
    for n in range(len(data)):
        rejects(data[:n], r"^truncated")


def test_every_single_byte_change_is_rejected() -> None:
    """CRCs catch every one-byte change (header and payload) of a small file."""
    data = to_bytes(dsslic_like((3, 1, 5)))
    for i in range(len(data)):
        for delta in (1, 0x80, 0xFF):
            mutated = bytearray(data)
            mutated[i] = (mutated[i] + delta) & 0xFF
            with pytest.raises(EdmsFormatError):
                from_bytes(bytes(mutated))


@pytest.mark.parametrize(
    "data",
    [
        raw_file(width=100000, height=100000),
        raw_file(width=65535, height=65535),
        raw_file(layers=((1, 5, b"x", 4 * 2**30),)),
        raw_file(layers=((1, 5, b"x"),) * 64 + ((1, 5, b"x", 2**40),)),
        raw_file(layers=((1, 5, b"x"),), n_layers=2**40),
    ],
    ids=["100000^2", "65535^2", "4GB-layer", "65-layers", "2**40-layers"],
)
def test_huge_claims_allocate_nothing(data: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(EdmsFormatError):
            from_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024


def test_read_refuses_oversized_file_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert container.MAX_FILE_BYTES == 2**30
    monkeypatch.setattr(container, "MAX_FILE_BYTES", 2**20)  # keep the test file small
    path = tmp_path / "big.edms"
    with open(path, "wb") as f:
        f.write(to_bytes(hevc_like(b"x")))
        f.truncate(2**26)  # 64 MiB, sparse where the file system allows
    tracemalloc.start()
    try:
        with pytest.raises(EdmsFormatError, match=r"67108864 bytes is over the 1048576-byte"):
            read_edms(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # refused from its size, not read


def test_read_missing_file_and_bad_type(tmp_path: Path) -> None:
    with pytest.raises(EdmsFormatError, match=r"cannot read .*nothing\.edms"):
        read_edms(tmp_path / "nothing.edms")
    with pytest.raises(EdmsFormatError, match="cannot read"):
        read_edms(tmp_path)
    with pytest.raises(TypeError):
        read_edms(123)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- writing


def _with(**changes: object) -> Encoded:
    enc = hevc_like(b"data")
    for key, value in changes.items():
        setattr(enc, key, value)
    return enc


BAD_WRITES = {
    "not encoded": ("hello", r"expected an Encoded, got str"),
    "pipeline upper": (_with(pipeline="HEVC"), r"pipeline id 'HEVC' must be 1\.\.32 characters"),
    "pipeline empty": (_with(pipeline=""), r"pipeline id '' must be"),
    "pipeline long": (_with(pipeline="a" * 33), r"pipeline id 'a+' must be"),
    "pipeline unicode": (_with(pipeline="hévc"), r"pipeline id 'hévc' must be"),
    "pipeline underscore": (_with(pipeline="a_b"), r"pipeline id 'a_b' must be"),
    "pipeline bytes": (_with(pipeline=b"hevc"), r"pipeline id b'hevc' must be"),
    "version negative": (_with(pipeline_version=-1), r"pipeline_version -1 is out of range"),
    "version float": (_with(pipeline_version=1.0), r"pipeline_version must be an integer"),
    "fingerprint long": (_with(model_fingerprint=bytes(65)), r"model_fingerprint is 65 bytes"),
    "fingerprint str": (_with(model_fingerprint="abcd"), r"model_fingerprint must be bytes"),
    "width 0": (_with(width=0), r"image width 0 is out of range 1\.\.65535"),
    "height big": (_with(height=65536), r"image height 65536 is out of range"),
    "pixels": (
        _with(width=40000, height=40000),
        r"image 40000x40000 has 1600000000 pixels, over the limit",
    ),
    "width bool": (_with(width=True), r"width must be an integer, got bool"),
    "params list": (_with(params=[("qp", 1)]), r"params must be a dict"),
    "param upper": (_with(params={"QP": 1}), r"parameter name 'QP' must be 1\.\.16"),
    "param empty": (_with(params={"": 1}), r"parameter name '' must be"),
    "param long": (_with(params={"a" * 17: 1}), r"parameter name 'a+' must be"),
    "param non-str": (_with(params={1: 1}), r"parameter name 1 must be"),
    "param big": (_with(params={"qp": 2**31}), r"parameter 'qp' = 2147483648 does not fit"),
    "param small": (
        _with(params={"qp": -(2**31) - 1}),
        r"parameter 'qp' = -2147483649 does not fit in a signed 32-bit int",
    ),
    "param float": (_with(params={"qp": 1.5}), r"parameter 'qp' must be an integer, got float"),
    "params many": (_with(params={f"p{i}": i for i in range(33)}), r"33 parameters, at most 32"),
    "no layers": (_with(layers=[]), r"0 layers, 1\.\.64 allowed"),
    "65 layers": (_with(layers=[Layer(LayerKind.IMAGE, 5, b"")] * 65), r"65 layers"),
    "layer not Layer": (_with(layers=[b"data"]), r"layer 0 must be a Layer, got bytes"),
    "layer kind": (_with(layers=[Layer(9, 5, b"")]), r"layer 0 has unknown kind 9"),  # type: ignore[arg-type]
    "codec 256": (
        _with(layers=[Layer(LayerKind.IMAGE, 256, b"")]),
        r"layer 0 codec_id 256 does not fit in one byte",
    ),
    "codec -1": (
        _with(layers=[Layer(LayerKind.IMAGE, -1, b"")]),
        r"layer 0 codec_id -1 does not fit",
    ),
    "layer str": (_with(layers=[Layer(LayerKind.IMAGE, 5, "abc")]), r"layer 0 data must be bytes"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", list(BAD_WRITES), ids=list(BAD_WRITES))
def test_write_validation(case: str, tmp_path: Path) -> None:
    obj, pattern = BAD_WRITES[case]
    with pytest.raises(EdmsFormatError, match="^cannot write .edms: " + pattern) as info:
        to_bytes(obj)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    path = tmp_path / "x.edms"
    with pytest.raises(EdmsFormatError):
        write_edms(path, obj)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_write_refuses_file_over_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "MAX_FILE_BYTES", 100)
    to_bytes(hevc_like(bytes(60)))
    with pytest.raises(EdmsFormatError, match=r"file would be 134 bytes, over the 100-byte"):
        to_bytes(hevc_like(bytes(100)))


@pytest.mark.parametrize("failing", ["serialise", "replace", "fsync", "write"])
def test_atomic_write_keeps_previous_file(
    failing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keep.edms"
    write_edms(path, hevc_like(b"old"))
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    obj: object = hevc_like(b"new")
    if failing == "serialise":
        obj = _with(layers=[Layer(LayerKind.IMAGE, 5, b"ok"), "not a layer"])
    elif failing == "replace":
        monkeypatch.setattr(container.os, "replace", boom)
    elif failing == "fsync":
        monkeypatch.setattr(container.os, "fsync", boom)
    else:
        real_fdopen = os.fdopen

        class HalfWriter:
            """Writes a few bytes, then fails like a full disk."""

            def __init__(self, fd: int, mode: str) -> None:
                self.f = real_fdopen(fd, mode)

            def __enter__(self) -> HalfWriter:
                return self

            def __exit__(self, *exc: object) -> None:
                self.f.close()

            def fileno(self) -> int:
                return self.f.fileno()

            def write(self, data: bytes) -> None:
                self.f.write(data[:10])
                self.f.flush()
                boom()

        monkeypatch.setattr(container.os, "fdopen", HalfWriter)
    with pytest.raises((EdmsFormatError, OSError)):
        write_edms(path, obj)  # type: ignore[arg-type]
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["keep.edms"]
    assert path.read_bytes() == before
    assert same(read_edms(path), hevc_like(b"old"))


def test_atomic_write_leaves_nothing_when_no_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(container.os, "replace", boom)
    with pytest.raises(OSError, match="I/O error"):
        write_edms(tmp_path / "new.edms", hevc_like())
    assert os.listdir(tmp_path) == []


def test_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_edms(tmp_path / "no" / "such.edms", hevc_like())
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- fuzzing

SEEDS = [
    to_bytes(hevc_like(b"hevc-bitstream")),
    to_bytes(dsslic_like((4, 0, 9))),
    to_bytes(
        Encoded(
            "smic",
            3,
            bytes(range(32)),
            4000,
            3000,
            {"a": -7, "qp": 200000, "z_9": 0},
            [Layer(LayerKind.SIDE_INFO, 255, b"s"), Layer(LayerKind.LATENT, 0, b"latent" * 3)],
        )
    ),
]


def fix_header_crc(data: bytearray) -> None:
    """Recompute the header CRC of a mutated file if its header length can be read."""
    if len(data) < 6 or data[:4] != b"EDMS":
        return
    body_len, shift, pos = 0, 0, 5
    while pos < len(data) and pos < 8:
        byte = data[pos]
        body_len |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if not byte & 0x80:
            end = pos + body_len
            if end + 4 <= len(data):
                data[end : end + 4] = zlib.crc32(bytes(data[:end])).to_bytes(4, "little")
            return


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        if not data and op != "insert":
            continue
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(
                st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255))])
            )
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 4))]
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[i : i + draw(st.integers(1, 8))]
    if draw(st.booleans()):
        fix_header_crc(data)
    return bytes(data)


def _must_parse_or_reject(data: bytes) -> None:
    try:
        enc = from_bytes(data)
    except EdmsFormatError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert to_bytes(enc) == data  # accepted input is exactly a canonical file


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_random_bytes(data: bytes) -> None:
    _must_parse_or_reject(data)
    _must_parse_or_reject(b"EDMS\x01" + data)


@FUZZ
@given(mutated_files())
def test_fuzz_mutated_files(data: bytes) -> None:
    _must_parse_or_reject(data)


_NAME_RE = re.compile(rb"[a-z][a-z0-9_]{0,15}")
_ID_RE = re.compile(rb"[a-z0-9-]{1,32}")


def _ascii_bytes(draw: st.DrawFn, allowed: str, forbidden: str, max_size: int) -> bytes:
    """A string of allowed characters, or (half the time) with some forbidden ones."""
    chars = allowed + forbidden * draw(st.booleans())
    return draw(st.text(alphabet=chars, max_size=max_size)).encode()


@st.composite
def header_fields(draw: st.DrawFn) -> dict:
    """Header fields near and across every limit of the spec (cheap to generate)."""
    edge = st.sampled_from
    params = [
        (
            _ascii_bytes(draw, "aqz09_", "-Q", 17),
            draw(st.one_of(st.integers(-1000, 1000), edge([-(2**31) - 1, 2**31 - 1, 2**31]))),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    # Occasionally pad the parameter and layer lists up to (and over) their caps.
    params += [(b"z%02d" % i, i) for i in range(draw(edge([0, 0, 0, 28, 29])))]
    layers = draw(
        st.lists(
            st.tuples(st.integers(0, 7), st.integers(0, 255), st.binary(max_size=12)),
            max_size=4,
        )
    )
    layers += [(LayerKind.LATENT, 1, b"")] * draw(edge([0, 0, 0, 60, 61]))
    return {
        "pipeline": _ascii_bytes(draw, "abz09-", "_A\xe9", 34),
        "pversion": draw(st.one_of(st.integers(0, 9), edge([2**31 - 1, 2**31, 2**40]))),
        "fingerprint": draw(st.one_of(st.binary(max_size=8), edge([bytes(64), bytes(65)]))),
        "width": draw(st.one_of(st.integers(0, 2000), edge([16384, 65535, 65536, 10**6]))),
        "height": draw(st.one_of(st.integers(0, 2000), edge([16384, 65535, 65536, 10**6]))),
        "params": tuple(params),
        "layers": tuple(layers),
    }


def _spec_valid(f: dict) -> bool:
    """Validity per docs/edms-format.md, written independently of app.container."""
    names = [n for n, _ in f["params"]]
    return (
        _ID_RE.fullmatch(f["pipeline"]) is not None
        and f["pversion"] <= 2**31 - 1
        and len(f["fingerprint"]) <= 64
        and 1 <= f["width"] <= 65535
        and 1 <= f["height"] <= 65535
        and f["width"] * f["height"] <= 2**28
        and len(names) <= 32
        and all(_NAME_RE.fullmatch(n) for n in names)
        and all(a < b for a, b in pairwise(names))
        and all(-(2**31) <= v <= 2**31 - 1 for _, v in f["params"])
        and 1 <= len(f["layers"]) <= 64
        and all(1 <= k <= 6 for k, _, _ in f["layers"])
    )


@settings(FUZZ, max_examples=1000)  # generation costs ~5 ms an example; 1000 covers it
@given(header_fields())
def test_fuzz_structured_headers_match_spec(fields: dict) -> None:
    data = raw_file(**fields)
    if not _spec_valid(fields):
        with pytest.raises(EdmsFormatError):
            from_bytes(data)
        return
    enc = from_bytes(data)
    assert enc.pipeline == fields["pipeline"].decode()
    assert (enc.pipeline_version, enc.model_fingerprint) == (
        fields["pversion"],
        fields["fingerprint"],
    )
    assert (enc.width, enc.height) == (fields["width"], fields["height"])
    assert enc.params == {n.decode(): v for n, v in fields["params"]}
    assert [(x.kind, x.codec_id, x.data) for x in enc.layers] == list(fields["layers"])
    assert to_bytes(enc) == data


def test_version_2_carries_one_check_layer_canonically() -> None:
    data = raw_file(fmt=2, layers=((1, 5, b"payload"), (7, 0, b"abcdefgh")))
    enc = from_bytes(data)
    assert [int(layer.kind) for layer in enc.layers] == [1, 7]
    assert to_bytes(enc) == data
    plain = raw_file()
    assert to_bytes(from_bytes(plain)) == plain  # no check layer: still version 1
    assert plain[4] == 1 and data[4] == 2
