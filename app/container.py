"""The ``.edms`` container: one encoded image (header + typed layers) in one file.

The byte layout is specified in ``docs/edms-format.md`` (format version 1); this module
is its reference implementation. In short::

    "EDMS" | version u8 | body length varint | header body | header CRC-32 | layer payloads

where the header body holds the pipeline id and version, the model-weights fingerprint,
the image size, the integer coding parameters and a table of layers (kind, codec id,
length, CRC-32). All integers are unsigned LEB128 varints except the one-byte fields and
the little-endian CRC-32s; signed parameter values are zigzag-mapped first.

Reading is strict: any input that is not exactly a valid file raises
:class:`EdmsFormatError` with a message naming the problem and its byte offset. The
reader never allocates or loops on an untrusted length: every count is capped and every
length is checked against the bytes actually present before it is used. The encoding
is canonical (shortest varints, sorted parameter names), so for every accepted input
``to_bytes(from_bytes(data)) == data``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from operator import index
from pathlib import Path
from typing import Any, BinaryIO

from app.codecs.base import MAX_PIXELS as CODEC_MAX_PIXELS
from app.codecs.base import write_varint as _varint
from app.errors import EdmsError
from app.pipelines import registry
from app.pipelines.base import Encoded, Layer, LayerKind
from app.pipelines.spec import OWN_IDS

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_FILE_BYTES",
    "EdmsFormatError",
    "describe",
    "from_bytes",
    "header_size",
    "read_edms",
    "read_edms_layers",
    "to_bytes",
    "write_edms",
]

MAGIC = b"EDMS"
#: the newest format version; version 2 adds the CHECK layer (a hash of the encoder's
#: reconstruction). A file is written as version 2 exactly when it has a CHECK layer and
#: as version 1 otherwise, so both stay canonical.
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
CHECK_BYTES = 8  # the CHECK layer: the first 8 bytes of a SHA-256 (codec id 0)

# Limits of format version 1 (docs/edms-format.md, "Limits"). Readers and writers share
# them, so every file the writer produces is accepted by the reader.
MAX_FILE_BYTES = 1 << 30  # read_edms refuses larger files before reading them
MAX_HEADER_BODY = 4096  # largest possible body with the caps below is ~2 KB
MAX_PIPELINE_ID = 32
MAX_PIPELINE_VERSION = 2**31 - 1
MAX_FINGERPRINT = 64  # room for a SHA-512 digest
MAX_SIDE = 65535
MAX_PIXELS = CODEC_MAX_PIXELS  # one limit: no layer decoder accepts a larger image
MAX_PARAMS = 32
MAX_PARAM_NAME = 16
PARAM_MIN, PARAM_MAX = -(2**31), 2**31 - 1
MAX_LAYERS = 64
MAX_VARINT_BYTES = 10  # enough for any 64-bit value

_PIPELINE_ID_RE = re.compile(rb"[a-z0-9-]{1,%d}" % MAX_PIPELINE_ID)
_PARAM_NAME_RE = re.compile(rb"[a-z][a-z0-9_]{0,%d}" % (MAX_PARAM_NAME - 1))
_CRC_BYTES = 4
_FIXED_PREFIX = len(MAGIC) + 1  # magic + format version byte


class EdmsFormatError(EdmsError, ValueError):
    """An ``.edms`` file is malformed, or an :class:`Encoded` cannot be written as one.

    It is also a :class:`ValueError`, so code that validates values generically still
    catches it.
    """


# --------------------------------------------------------------------------- varints
# Written by the codecs' LEB128 writer (the one copy); the reader below is stricter than
# theirs (it rejects overlong encodings and over-large values with our own messages).


def _zigzag(value: int) -> int:
    """Map a signed 32-bit value to unsigned: 0,-1,1,-2,... -> 0,1,2,3,..."""
    return (value << 1) ^ (value >> 31)


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _crc32(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


class _Reader:
    """Cursor over ``data[pos:end]`` that raises EdmsFormatError on every misuse."""

    def __init__(self, data: bytes, pos: int, end: int, where: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.where = where  # "file" or "header": names what ran out in messages

    def _short(self, field: str, need: int) -> EdmsFormatError:
        have = self.end - self.pos
        if self.where == "file":
            return EdmsFormatError(
                f"truncated: file ends inside {field} at byte {self.pos} "
                f"(needs {need} more byte(s), {have} left)"
            )
        return EdmsFormatError(
            f"corrupt header: {field} at byte {self.pos} runs past the end of the header "
            f"(needs {need} byte(s), {have} left)"
        )

    def u8(self, field: str) -> int:
        if self.pos >= self.end:
            raise self._short(field, 1)
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, n: int, field: str) -> bytes:
        # ``n`` was capped by the caller; check it against the bytes present anyway
        # before slicing.
        if n > self.end - self.pos:
            raise self._short(field, n)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self, field: str, maximum: int, minimum: int = 0) -> int:
        start = self.pos
        value = 0
        for i in range(MAX_VARINT_BYTES):
            if self.pos >= self.end:
                self.pos = start
                raise self._short(f"{field} (varint)", i + 1)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise EdmsFormatError(
                        f"overlong varint for {field} at byte {start}: "
                        f"{i + 1} bytes where a shorter encoding exists"
                    )
                break
        else:
            raise EdmsFormatError(
                f"varint for {field} at byte {start} is longer than {MAX_VARINT_BYTES} bytes"
            )
        if not minimum <= value <= maximum:
            raise EdmsFormatError(
                f"{field} = {value} at byte {start} is out of range {minimum}..{maximum}"
            )
        return value


# --------------------------------------------------------------------------- writing


def _own_kinds(pipeline: str) -> dict[int, str]:
    """The layer kinds a pipeline's spec declares as its own (none if it is not installed:
    its files are then refused as they would be undecodable anyway)."""
    return registry.own_layer_kinds(pipeline)


def _is_own_kind(kind: int, pipeline: str) -> bool:
    return kind in OWN_IDS and kind in _own_kinds(pipeline)


def _fail(message: str) -> EdmsFormatError:
    return EdmsFormatError(f"cannot write .edms: {message}")


def _as_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise _fail(f"{field} must be an integer, got bool {value!r}")
    try:
        return index(value)  # int, numpy integers; refuses floats and strings
    except TypeError:
        raise _fail(f"{field} must be an integer, got {type(value).__name__} {value!r}") from None


def _as_bytes(value: Any, field: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _fail(f"{field} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _check_size(width: int, height: int, fail: Callable[[str], EdmsFormatError]) -> None:
    for name, side in (("width", width), ("height", height)):
        if not 1 <= side <= MAX_SIDE:
            raise fail(f"image {name} {side} is out of range 1..{MAX_SIDE}")
    if width * height > MAX_PIXELS:
        raise fail(
            f"image {width}x{height} has {width * height} pixels, over the limit "
            f"of {MAX_PIXELS} (2**28)"
        )


def _pack_header(encoded: Encoded) -> tuple[bytes, list[bytes]]:
    """Validate ``encoded`` and return (header bytes incl. CRC, layer payloads)."""
    if not isinstance(encoded, Encoded):
        raise _fail(f"expected an Encoded, got {type(encoded).__name__}")

    pipeline = encoded.pipeline
    if not isinstance(pipeline, str) or not _PIPELINE_ID_RE.fullmatch(
        pipeline.encode("ascii", "replace")
    ):
        raise _fail(
            f"pipeline id {pipeline!r} must be 1..{MAX_PIPELINE_ID} characters of a-z, 0-9 and '-'"
        )
    version = _as_int(encoded.pipeline_version, "pipeline_version")
    if not 0 <= version <= MAX_PIPELINE_VERSION:
        raise _fail(f"pipeline_version {version} is out of range 0..{MAX_PIPELINE_VERSION}")
    fingerprint = _as_bytes(encoded.model_fingerprint, "model_fingerprint")
    if len(fingerprint) > MAX_FINGERPRINT:
        raise _fail(
            f"model_fingerprint is {len(fingerprint)} bytes, at most {MAX_FINGERPRINT} allowed"
        )
    width = _as_int(encoded.width, "width")
    height = _as_int(encoded.height, "height")
    _check_size(width, height, _fail)

    params = encoded.params
    if not isinstance(params, Mapping):
        raise _fail(f"params must be a dict[str, int], got {type(params).__name__}")
    if len(params) > MAX_PARAMS:
        raise _fail(f"{len(params)} parameters, at most {MAX_PARAMS} allowed")
    packed_params = []
    # Sorted, so equal parameter dicts always give identical files.
    for name in sorted(params, key=str):
        if not isinstance(name, str) or not _PARAM_NAME_RE.fullmatch(
            name.encode("ascii", "replace")
        ):
            raise _fail(
                f"parameter name {name!r} must be 1..{MAX_PARAM_NAME} characters of "
                "a-z, 0-9 and '_', starting with a letter"
            )
        value = _as_int(params[name], f"parameter {name!r}")
        if not PARAM_MIN <= value <= PARAM_MAX:
            raise _fail(f"parameter {name!r} = {value} does not fit in a signed 32-bit int")
        raw = name.encode("ascii")
        packed_params.append(_varint(len(raw)) + raw + _varint(_zigzag(value)))

    layers = encoded.layers
    if not isinstance(layers, list | tuple):
        raise _fail(f"layers must be a list of Layer, got {type(layers).__name__}")
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise _fail(f"{len(layers)} layers, 1..{MAX_LAYERS} allowed")
    checks = [layer for layer in layers
              if isinstance(layer, Layer) and _as_int(layer.kind, "kind") == LayerKind.CHECK]
    if len(checks) > 1:
        raise _fail(f"{len(checks)} check layers, at most one allowed")
    for layer in checks:
        if layer.codec_id != 0 or len(_as_bytes(layer.data, "check")) != CHECK_BYTES:
            raise _fail(f"the check layer must hold {CHECK_BYTES} bytes with codec id 0")
    format_version = 2 if checks else 1
    table = []
    payloads = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise _fail(f"layer {i} must be a Layer, got {type(layer).__name__}")
        kind = _as_int(layer.kind, f"layer {i} kind")
        if kind not in LayerKind._value2member_map_ and not _is_own_kind(kind, pipeline):
            raise _fail(f"layer {i} has unknown kind {kind}")
        codec = _as_int(layer.codec_id, f"layer {i} codec_id")
        if not 0 <= codec <= 255:
            raise _fail(f"layer {i} codec_id {codec} does not fit in one byte (0..255)")
        data = _as_bytes(layer.data, f"layer {i} data")
        table.append(bytes((kind, codec)) + _varint(len(data)) + _crc32(data).to_bytes(4, "little"))
        payloads.append(data)

    raw_id = pipeline.encode("ascii")
    body = b"".join(
        [
            _varint(len(raw_id)),
            raw_id,
            _varint(version),
            _varint(len(fingerprint)),
            fingerprint,
            _varint(width),
            _varint(height),
            _varint(len(packed_params)),
            *packed_params,
            _varint(len(table)),
            *table,
        ]
    )
    head = MAGIC + bytes((format_version,)) + _varint(len(body)) + body
    header = head + _crc32(head).to_bytes(4, "little")
    total = len(header) + sum(len(p) for p in payloads)
    if total > MAX_FILE_BYTES:
        raise _fail(f"file would be {total} bytes, over the {MAX_FILE_BYTES}-byte limit")
    return header, payloads


def to_bytes(encoded: Encoded) -> bytes:
    """Serialise ``encoded`` (header fields and layers; not the reconstruction/views)."""
    header, payloads = _pack_header(encoded)
    return b"".join([header, *payloads])


def header_size(encoded: Encoded) -> int:
    """Bytes the container adds on top of the layer payloads for ``encoded``."""
    return len(_pack_header(encoded)[0])


def _umask() -> int:
    # The only portable way to read the umask is to set it and put it back (not
    # thread-safe for that instant, which is fine for a desktop tool).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_edms(path: str | os.PathLike[str], encoded: Encoded) -> int:
    """Write ``encoded`` to ``path`` atomically; return the number of bytes written.

    The bytes are built (and validated) first, then written to a temporary file in the
    same directory, fsync'ed and moved over ``path`` with :func:`os.replace`. On any
    error the temporary file is removed and an existing ``path`` is left untouched.
    Validation errors raise :class:`EdmsFormatError`; I/O errors propagate as OSError.
    """
    data = to_bytes(encoded)
    target = Path(path)
    directory = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp creates 0600; give a normal file's mode
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)
    return len(data)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); best effort where directories can't be opened."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- reading


def _parse(data: bytes, size: int | None = None,
           fetch: Callable[[int, LayerKind | int, int, int, int], bytes | None] | None = None
           ) -> tuple[Encoded, int, list[int]]:
    """Parse a whole file; return (encoded, header size, layer CRCs).

    With ``size`` and ``fetch``, ``data`` is only the file's first bytes (enough for any
    header) and ``size`` its length; layer i's payload comes from ``fetch(i, kind,
    codec_id, offset, length)``, and a layer it returns None for is left out.
    """
    n = len(data) if size is None else size
    if data[: len(MAGIC)] != MAGIC[: min(n, len(MAGIC))]:
        raise EdmsFormatError(
            f"not an .edms file: starts with {data[:4].hex()!r}, expected {MAGIC.hex()!r} "
            f"({MAGIC.decode()})"
        )
    if n < _FIXED_PREFIX + 1:
        raise EdmsFormatError(f"truncated: {n} byte(s) cannot hold an .edms header")
    version = data[len(MAGIC)]
    if version not in SUPPORTED_VERSIONS:
        raise EdmsFormatError(
            f"unsupported .edms format version {version} "
            f"(this reader supports versions {', '.join(map(str, SUPPORTED_VERSIONS))})"
        )
    r = _Reader(data, _FIXED_PREFIX, n, "file")
    body_len = r.varint("header body length", MAX_HEADER_BODY, minimum=1)
    body_start = r.pos
    body_end = body_start + body_len
    header_end = body_end + _CRC_BYTES
    if header_end > n:
        raise EdmsFormatError(f"truncated: header needs {header_end} bytes, the file has {n}")
    stored = int.from_bytes(data[body_end:header_end], "little")
    computed = _crc32(memoryview(data)[:body_end])
    if stored != computed:
        raise EdmsFormatError(
            f"corrupt header: CRC-32 mismatch (stored {stored:08x}, computed {computed:08x})"
        )

    h = _Reader(data, body_start, body_end, "header")
    pipeline = _ascii_field(h, "pipeline id", MAX_PIPELINE_ID, _PIPELINE_ID_RE)
    pipeline_version = h.varint("pipeline version", MAX_PIPELINE_VERSION)
    fp_len = h.varint("model fingerprint length", MAX_FINGERPRINT)
    fingerprint = h.take(fp_len, "model fingerprint")
    width = h.varint("image width", MAX_SIDE, minimum=1)
    height = h.varint("image height", MAX_SIDE, minimum=1)
    _check_size(width, height, lambda m: EdmsFormatError(f"inconsistent header: {m}"))

    n_params = h.varint("parameter count", MAX_PARAMS)
    params: dict[str, int] = {}
    for i in range(n_params):
        name = _ascii_field(h, f"parameter {i} name", MAX_PARAM_NAME, _PARAM_NAME_RE)
        if name in params:
            raise EdmsFormatError(f"inconsistent header: duplicate parameter name {name!r}")
        if params and name < next(reversed(params)):
            # Writers sort the names, so every content has exactly one valid encoding.
            raise EdmsFormatError(
                f"inconsistent header: parameter names not in ascending order "
                f"({next(reversed(params))!r} before {name!r})"
            )
        params[name] = _unzigzag(h.varint(f"parameter {name!r} value", 2**32 - 1))

    n_layers = h.varint("layer count", MAX_LAYERS, minimum=1)
    table: list[tuple[LayerKind | int, int, int, int]] = []
    available = n - header_end
    needed = 0
    for i in range(n_layers):
        kind_pos = h.pos
        kind = h.u8(f"layer {i} kind")
        shared = kind in LayerKind._value2member_map_
        if (not shared and not _is_own_kind(kind, pipeline)) or (kind == LayerKind.CHECK
                                                                and version < 2):
            raise EdmsFormatError(f"unknown layer kind {kind} for layer {i} at byte {kind_pos}")
        codec = h.u8(f"layer {i} codec id")
        length = h.varint(f"layer {i} length", 2**64 - 1)
        crc = int.from_bytes(h.take(_CRC_BYTES, f"layer {i} CRC-32"), "little")
        needed += length
        # Checked per layer, so no later code sees a length beyond the data present.
        if needed > available:
            raise EdmsFormatError(
                f"truncated: layers 0..{i} need {needed} payload bytes, "
                f"only {available} follow the header"
            )
        table.append((LayerKind(kind) if shared else kind, codec, length, crc))
    if h.pos != body_end:
        raise EdmsFormatError(
            f"inconsistent header: {body_end - h.pos} unexpected byte(s) after the layer "
            f"table at byte {h.pos}"
        )
    checks = [t for t in table if t[0] == LayerKind.CHECK]
    if version == 2 and (len(checks) != 1 or checks[0][1] != 0
                         or checks[0][2] != CHECK_BYTES):
        raise EdmsFormatError(
            f"inconsistent header: a version-2 file has exactly one check layer of "
            f"{CHECK_BYTES} bytes with codec id 0 (found {len(checks)})")
    if needed < available:
        raise EdmsFormatError(
            f"over-long: {available - needed} trailing byte(s) after the last layer "
            f"(file has {n} bytes, layers end at byte {header_end + needed})"
        )

    layers = []
    pos = header_end
    for i, (kind, codec, length, crc) in enumerate(table):
        if fetch is None:
            payload = data[pos : pos + length]
        else:
            fetched = fetch(i, kind, codec, pos, length)
            if fetched is None:
                pos += length
                continue
            payload = fetched
        pos += length
        if len(payload) != length:
            raise EdmsFormatError(f"truncated: layer {i} ends early (file changed while read?)")
        actual = _crc32(payload)
        if actual != crc:
            raise EdmsFormatError(
                f"corrupt layer {i} ({registry.kind_key(pipeline, kind)}): CRC-32 mismatch "
                f"(stored {crc:08x}, computed {actual:08x})"
            )
        layers.append(Layer(kind, codec, payload))

    encoded = Encoded(
        pipeline=pipeline,
        pipeline_version=pipeline_version,
        model_fingerprint=fingerprint,
        width=width,
        height=height,
        params=params,
        layers=layers,
        reconstruction=None,
    )
    return encoded, header_end, [t[3] for t in table]


def _ascii_field(r: _Reader, field: str, max_len: int, pattern: re.Pattern[bytes]) -> str:
    length = r.varint(f"{field} length", max_len, minimum=1)
    start = r.pos
    raw = r.take(length, field)
    if not pattern.fullmatch(raw):
        raise EdmsFormatError(
            f"inconsistent header: {field} {raw!r} at byte {start} is not valid "
            f"(allowed: {pattern.pattern.decode()})"
        )
    return raw.decode("ascii")


@contextlib.contextmanager
def _open_edms(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """``(file, size)`` of an ``.edms`` file opened for reading, refused over
    :data:`MAX_FILE_BYTES` before anything is read; an OSError, in the ``with`` block
    too, becomes :class:`EdmsFormatError`."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise EdmsFormatError(
                    f"{path}: {size} bytes is over the {MAX_FILE_BYTES}-byte .edms limit")
            yield f, size
    except OSError as exc:
        raise EdmsFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _load(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"read_edms needs a path or bytes, got {type(source).__name__}")
    path = Path(source)
    with _open_edms(path) as (f, _):
        data = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows meanwhile
    if len(data) > MAX_FILE_BYTES:
        raise EdmsFormatError(f"{path}: over the {MAX_FILE_BYTES}-byte .edms limit")
    return data


def read_edms_layers(path: str | os.PathLike[str],
                     want: Callable[[LayerKind | int, int], bool]) -> Encoded:
    """Read a file's header and only the layers ``want(kind, codec_id)`` accepts.

    The other payloads are not read (their CRCs are not checked either), so looking at a
    small layer of a large file (a class layer, say) costs a few hundred
    bytes of I/O. ``layers`` of the result holds only the layers read, in file order.
    Raises :class:`EdmsFormatError` as :func:`read_edms` does.
    """
    with _open_edms(Path(path)) as (f, size):
        head = f.read(_FIXED_PREFIX + MAX_VARINT_BYTES + MAX_HEADER_BODY + _CRC_BYTES)

        def fetch(i: int, kind: LayerKind | int, codec: int, offset: int, length: int
                  ) -> bytes | None:
            if not want(kind, codec):
                return None
            f.seek(offset)
            return f.read(length)

        return _parse(head, size, fetch)[0]


def from_bytes(data: bytes | bytearray | memoryview) -> Encoded:
    """Parse a whole ``.edms`` file held in memory (strict; see module docstring)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"from_bytes needs bytes, got {type(data).__name__}")
    return _parse(bytes(data))[0]


def read_edms(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> Encoded:
    """Read an ``.edms`` file from a path or from bytes; ``reconstruction`` is None.

    Raises :class:`EdmsFormatError` for malformed input, for files over
    :data:`MAX_FILE_BYTES` (checked before reading) and for unreadable paths.
    """
    return _parse(_load(source))[0]


# --------------------------------------------------------------------------- helpers


def describe(source: Encoded | str | os.PathLike[str] | bytes | bytearray | memoryview) -> dict:
    """Header fields, per-layer sizes and the container overhead (for ``edms info``).

    ``source`` is an :class:`Encoded` (described as it would be written) or a file's
    bytes or path (parsed, so malformed input raises :class:`EdmsFormatError`).
    """
    if isinstance(source, Encoded):
        header, payloads = _pack_header(source)  # validates, as writing would
        encoded, header_bytes, crcs = source, len(header), [_crc32(p) for p in payloads]
    else:
        encoded, header_bytes, crcs = _parse(_load(source))
    payload = sum(len(layer.data) for layer in encoded.layers)
    total = header_bytes + payload
    kinds = [registry.kind_text(encoded.pipeline, layer.kind) for layer in encoded.layers]
    names = registry.layer_names(encoded.pipeline, kinds)
    return {
        "format_version": 2 if any(layer.kind == LayerKind.CHECK
                                   for layer in encoded.layers) else 1,
        "pipeline": encoded.pipeline,
        "pipeline_version": encoded.pipeline_version,
        "model_fingerprint": encoded.model_fingerprint.hex(),
        "width": encoded.width,
        "height": encoded.height,
        "params": dict(encoded.params),
        "layers": [
            {
                "index": i,
                "name": name,
                "kind": registry.kind_key(encoded.pipeline, layer.kind),
                "codec_id": layer.codec_id,
                "bytes": len(layer.data),
                "crc32": f"{crc:08x}",
            }
            for i, (layer, crc, name) in enumerate(zip(encoded.layers, crcs, names, strict=True))
        ],
        "header_bytes": header_bytes,
        "payload_bytes": payload,
        "total_bytes": total,
        "bpp": total * 8 / (encoded.width * encoded.height),
    }
