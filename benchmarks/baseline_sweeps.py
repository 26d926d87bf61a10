"""Measure bpp / PSNR of each lossy baseline over a wide knob grid on a few Kodak images.

Used to choose the default sweeps in ``app/codecs/baselines.py`` (roughly 0.05-2 bpp).
Usage: ``python benchmarks/baseline_sweeps.py [--images kodim01,kodim07,...] [--codec NAME]``.
Skips (exit 0) when ``../shared/data/kodak`` is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.codecs.baselines import BASELINE_KNOBS, baseline_codec  # noqa: E402

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"

WIDE_GRID = {
    "jpeg": (1, 2, 3, 5, 8, 10, 15, 20, 30, 35, 50, 70, 85, 90, 92, 95),
    "jpeg2000": (20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46),
    "webp": (0, 2, 5, 10, 15, 20, 30, 50, 70, 80, 85, 90, 92, 95),
    "avif": (0, 5, 10, 15, 20, 25, 30, 40, 50, 55, 60, 65, 70, 75, 80, 85, 90),
    "jpegxl": (1, 5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 70, 72, 80, 82, 85, 90, 93),
    "hevc444": (17, 22, 27, 32, 37, 42, 47, 51),
    "hevc420": (17, 22, 27, 32, 37, 42, 47, 51),
}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", default="kodim01,kodim07,kodim13,kodim23")
    parser.add_argument("--codec", action="append", help="baseline name (repeatable)")
    parser.add_argument("--grid", choices=("wide", "sweep"), default="wide")
    args = parser.parse_args()
    if not KODAK.is_dir():
        print(f"skipped: {KODAK} not found")
        return
    images = [
        np.asarray(Image.open(KODAK / f"{n}.png").convert("RGB")) for n in args.images.split(",")
    ]
    for name in args.codec or list(BASELINE_KNOBS):
        knobs = WIDE_GRID[name] if args.grid == "wide" else BASELINE_KNOBS[name].sweep
        print(f"== {name}  (knob, mean bpp, mean PSNR dB, s/image)")
        for knob in knobs:
            codec = baseline_codec(name, knob)
            bpps, psnrs = [], []
            start = time.time()
            for img in images:
                data = codec.encode(img)
                bpps.append(8 * len(data) / (img.shape[0] * img.shape[1]))
                psnrs.append(psnr(img, codec.decode(data)))
            dt = (time.time() - start) / len(images)
            print(f"{knob:4d} {np.mean(bpps):7.3f} {np.mean(psnrs):6.2f} {dt:6.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
