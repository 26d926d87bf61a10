"""Regenerate the golden ``.edms`` files in ``tests/data/`` (run explicitly, on purpose):

    python -m tests.make_golden            # every built-in pipeline
    python -m tests.make_golden edms smic  # only these

Each pipeline encodes :func:`golden_image` at its default parameters into
``tests/data/<pipeline>-v<version>.edms``; ``tests/data/golden.json`` records the sha256 of
the decoded pixels. ``tests/test_golden.py`` decodes every file to that hash, so a change
that would break files already written fails a test instead of passing silently. Run this
only when the bitstream is meant to change, with the pipeline's version bumped (new
weights change the model fingerprint, which old files then no longer match).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
INDEX = DATA / "golden.json"
HEIGHT, WIDTH = 29, 37  # odd sizes: padding and cropping are exercised


def golden_image() -> np.ndarray:
    """A small deterministic image (integer arithmetic only, identical everywhere):
    colour ramps, a bright disc and a striped band, so every layer has something to code."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    r = (x * 255 // (WIDTH - 1)).astype(np.int64)
    g = (y * 255 // (HEIGHT - 1)).astype(np.int64)
    b = ((x * 7 + y * 11) % 64 * 4).astype(np.int64)
    disc = (x - 24) ** 2 + (y - 12) ** 2 < 64
    r[disc], g[disc], b[disc] = 240, 220, 60
    band = (y >= 20) & (y < 25)
    g[band] = np.where(x[band] % 4 < 2, 30, 200)
    return np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8)


def pixels_sha256(image: np.ndarray) -> str:
    """sha256 over the decoded HxWx3 uint8 pixels (row-major)."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()


def builtin_pipelines() -> list[str]:
    from app.pipelines import registry

    return [n for n in registry.available() if registry.origin(n) == "edms-workbench"]


def main(argv: list[str]) -> int:
    from app import api
    from app.container import write_edms
    from app.pipelines import registry

    names = argv or builtin_pipelines()
    index = json.loads(INDEX.read_text()) if INDEX.exists() else {}
    image = golden_image()
    DATA.mkdir(exist_ok=True)
    for name in names:
        enc, data = api.encode(image, name, {})
        decoded = api.decode(data).image
        if enc.reconstruction is not None and not np.array_equal(decoded, enc.reconstruction):
            raise SystemExit(f"{name}: the decoder does not rebuild the encoder's image")
        # files of the versions the decoder still reads stay: they prove old files decode
        keep = {f"{name}-v{v}.edms" for v in registry.spec(name).reads_versions}
        for old in DATA.glob(f"{name}-v*.edms"):
            if old.name in keep:
                continue
            old.unlink()
            index.pop(old.name, None)
        file = f"{name}-v{enc.pipeline_version}.edms"
        write_edms(DATA / file, enc)
        index[file] = {"pipeline": name, "version": enc.pipeline_version,
                       "params": enc.params, "sha256": pixels_sha256(decoded)}
        print(f"{file}: {len(data)} bytes")
    INDEX.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
