"""Atomic file output: write a temporary file beside the target, fsync, then rename.

A failed or interrupted write never leaves a half-written target or a stray temporary
file, and an existing target stays intact until the new content is complete. The file
gets the mode a plain ``open(path, "w")`` would give (0666 minus the umask), unlike
``tempfile.mkstemp``'s 0600.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that pick a format from the
    suffix (matplotlib's ``savefig``) behave as for the target.
    """
    target = Path(path)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp{target.suffix}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Atomically write ``data`` (str is UTF-8 encoded) to ``path``."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
