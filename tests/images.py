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
