"""A synthetic test image shared by the pipeline tests."""

from __future__ import annotations

import numpy as np


def synthetic_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """HxWx3 uint8: colour ramps plus seeded Gaussian noise (sigma 8)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 3 % 256, yy * 2 % 256, (xx + yy) % 256], -1).astype(np.float64)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def write_noisy_photo(path, seed: int):  # noqa: ANN001, ANN201 - a Path in, the Path out
    """A 48x64 PNG of colour ramps with Gaussian noise (the CLI tests' small photo)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:64]
    img = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1).astype(np.float64)
    img += rng.normal(0, 6, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def write_fake_camvid(root, n: int = 3, size: tuple[int, int] = (48, 40)) -> None:
    """A CamVid-layout folder (``train/``, ``trainannot/``, ``val/``, ``valannot/``) of ``n``
    random frames of ``size`` (width, height) with random labels 0..11 (11 = void)."""
    from pathlib import Path

    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            lab = rng.integers(0, 12, (size[1], size[0]), dtype=np.uint8)
            Image.fromarray(img).save(root / split / f"f{i}.png")
            Image.fromarray(lab).save(root / f"{split}annot" / f"f{i}.png")


def decode_in_fresh_process(data: bytes, threads: int, module: str, name: str) -> str:
    """Decode ``data`` in a new Python process with ``threads`` torch threads, by the
    pipeline ``name`` of ``module._pipelines()`` (a test module's random-weight pipelines),
    and return the sha256 of its image and carried classes: what a decoder on another
    machine computes from the bytes alone."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", _FRESH_DECODE, str(threads), name, root, module],
                         input=data, capture_output=True, check=True, cwd=root)
    return out.stdout.decode().strip()


def classes_digest(image: np.ndarray, views: dict) -> str:
    """sha256 of a decoded image and its ``classes`` / ``class_probabilities`` views."""
    import hashlib

    return hashlib.sha256(image.tobytes() + views["classes"].array.tobytes()
                          + views["class_probabilities"].array.tobytes()).hexdigest()


_FRESH_DECODE = """
import importlib, sys
import torch
torch.set_num_threads(int(sys.argv[1]))
sys.path.insert(0, sys.argv[3])
from app.container import from_bytes
from tests.images import classes_digest
p = importlib.import_module(sys.argv[4])._pipelines()[sys.argv[2]]
print(classes_digest(*p.decode_with_views(from_bytes(sys.stdin.buffer.read()))))
"""
