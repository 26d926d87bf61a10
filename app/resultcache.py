"""A persistent cache of evaluated points, so long evaluations resume where they stopped.

Every measured point is stored as soon as it is finished, keyed by

- the SHA-256 of the image's pixels (so a renamed or re-encoded copy of the same pixels
  hits, and a changed image misses),
- the pipeline's name, its version and its model fingerprint (so new weights or a new
  bitstream version invalidate that pipeline's points, and only those),
- the point's parameters, and the evaluation *task* (``rd``, ``segmentation``, ...),

in one SQLite file (the standard library's ``sqlite3``: atomic commits, safe against a
kill mid-write, shared by concurrent local workers through SQLite's own locking). The value
is the point as JSON. ``edms eval`` uses it by default (``--cache PATH``; ``--no-cache``
bypasses it); local ``-j`` workers and Ray workers share it, since points are written by the
process that collects the results.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    image_sha TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    params TEXT NOT NULL,
    task TEXT NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (image_sha, pipeline, version, fingerprint, params, task)
)
"""


def default_path() -> Path:
    """``$EDMS_CACHE_DIR/results.sqlite``, else under the user cache directory."""
    base = os.environ.get("EDMS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edms-workbench")
    return Path(base) / "results.sqlite"


def image_digest(image: np.ndarray) -> str:
    """SHA-256 over the shape and the pixels of an HxWx3 uint8 image."""
    h = hashlib.sha256(f"{image.shape}".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


def params_key(params: Mapping[str, int]) -> str:
    return json.dumps({k: int(v) for k, v in sorted(params.items())}, separators=(",", ":"))


class ResultCache:
    """Points by (image, pipeline identity, parameters, task)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, image_sha: str, pipeline: str, version: int, fingerprint: bytes,
            params: Mapping[str, int], task: str = "rd") -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT point FROM points WHERE image_sha=? AND pipeline=? AND version=? AND "
            "fingerprint=? AND params=? AND task=?",
            (image_sha, pipeline, int(version), fingerprint.hex(), params_key(params), task),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, image_sha: str, pipeline: str, version: int, fingerprint: bytes,
            params: Mapping[str, int], point: Mapping[str, Any], task: str = "rd") -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?)",
            (image_sha, pipeline, int(version), fingerprint.hex(), params_key(params), task,
             json.dumps(dict(point), sort_keys=True)),
        )
        self._db.commit()

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM points").fetchone()[0])
