"""Just enough ISO base media file format (ISO/IEC 14496-12) to read and write HEIF/AVIF.

Hand-written because no installed library exposes HEIF boxes: pillow-heif / libheif
only take and give whole files (see :mod:`app.codecs.hevc` for why we need the boxes).
Every read is bounds-checked and raises :class:`CodecError` on malformed input.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from app.errors import CodecError


def iter_boxes(
    data: bytes, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(type, payload_start, payload_end)`` of the boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos < end:
        if end - pos < 8:
            raise CodecError("truncated ISOBMFF box header")
        size, box_type = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise CodecError("truncated ISOBMFF box header")
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise CodecError(f"corrupt ISOBMFF box {box_type!r} (size {size})")
        yield box_type, pos + header, pos + size
        pos += size


def find_box(
    data: bytes, path: list[bytes], start: int = 0, end: int | None = None
) -> tuple[int, int]:
    """Return the payload range of the first box at ``path`` (e.g. ``[b"meta", b"iprp"]``).

    ``meta`` is a full box: its 4-byte version/flags are skipped when descending.
    """
    box_type = path[0]
    for found, s, e in iter_boxes(data, start, end):
        if found == box_type:
            if box_type == b"meta":
                s += 4
            if len(path) == 1:
                return s, e
            return find_box(data, path[1:], s, e)
    raise CodecError(f"HEIF box {b'/'.join(path).decode(errors='replace')} not found")


def box(box_type: bytes, payload: bytes) -> bytes:
    """Serialise a plain box."""
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def full_box(box_type: bytes, version: int, flags: int, payload: bytes) -> bytes:
    """Serialise a full box (version + 24-bit flags)."""
    return box(box_type, struct.pack(">I", (version << 24) | flags) + payload)


def read_uint(data: bytes, pos: int, size: int, end: int) -> tuple[int, int]:
    """Read a big-endian unsigned int of ``size`` bytes (0 reads as 0)."""
    if pos + size > end:
        raise CodecError("truncated HEIF box")
    return int.from_bytes(data[pos : pos + size], "big"), pos + size


def ispe_size(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """Return ``(width, height)`` of the first ``ispe`` in ``meta/iprp/ipco``."""
    s, e = find_box(data, [b"meta", b"iprp", b"ipco", b"ispe"], start, end)
    if e - s < 12:
        raise CodecError("truncated ispe box")
    width, height = struct.unpack_from(">II", data, s + 4)
    return width, height


def primary_item_data(data: bytes) -> bytes:
    """Concatenate the extents of the primary item (``pitm``) as described by ``iloc``.

    Supports iloc versions 0-2 with construction method 0 (file offsets), which is
    what libheif writes.
    """
    s, e = find_box(data, [b"meta", b"pitm"])
    version = data[s]
    item_id, _ = read_uint(data, s + 4, 4 if version else 2, e)

    s, e = find_box(data, [b"meta", b"iloc"])
    version = data[s]
    if version > 2:
        raise CodecError(f"unsupported iloc version {version}")
    pos = s + 4
    sizes, pos = read_uint(data, pos, 2, e)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 15
    base_offset_size, index_size = (sizes >> 4) & 15, sizes & 15
    count, pos = read_uint(data, pos, 2 if version < 2 else 4, e)
    for _ in range(count):
        this_id, pos = read_uint(data, pos, 2 if version < 2 else 4, e)
        method = 0
        if version >= 1:
            method, pos = read_uint(data, pos, 2, e)
            method &= 15
        _, pos = read_uint(data, pos, 2, e)  # data_reference_index
        base, pos = read_uint(data, pos, base_offset_size, e)
        n_extents, pos = read_uint(data, pos, 2, e)
        chunks = []
        for _ in range(n_extents):
            if version >= 1 and index_size:
                _, pos = read_uint(data, pos, index_size, e)
            offset, pos = read_uint(data, pos, offset_size, e)
            length, pos = read_uint(data, pos, length_size, e)
            first = base + offset
            if first + length > len(data) or length == 0:
                raise CodecError("HEIF item extent outside the file")
            chunks.append(data[first : first + length])
        if this_id == item_id:
            if method != 0:
                raise CodecError(f"unsupported iloc construction method {method}")
            return b"".join(chunks)
    raise CodecError("primary HEIF item has no location")
