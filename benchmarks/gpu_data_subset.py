"""A seeded subset of the training data small enough to travel with the repository to a
machine that has only the repository (``docs/training.md``, "Training on a lent GPU").

    python benchmarks/gpu_data_subset.py DATA_ROOT OUT [--frames 40] [--photos 1200]

``DATA_ROOT`` holds ``camvid/`` (CamVid layout), ``imagenette/`` (``train/<wnid>/``,
``val/<wnid>/``) and ``kodak/``. ``OUT`` receives the same layout: ``--frames`` CamVid
train frames with their labels and 8 val frames, ``--photos`` Imagenette train photographs
and one val photograph per class (drawn with a fixed seed, as many from every class), and
``--kodak``
Kodak images for ``benchmarks/gpu_check.py --data OUT``. Files are copied as they are;
the total size is printed. ``OUT`` belongs outside version control (``gpu-data/`` is
ignored): the data sets are never committed.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

IMAGE_EXTS = (".png", ".jpg", ".jpeg")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)


def _pick(paths: list[Path], n: int, seed: int) -> list[Path]:
    paths = list(paths)
    random.Random(seed).shuffle(paths)
    return sorted(paths[:n])


def _copy(src: Path, root: Path, dest_root: Path) -> int:
    dest = dest_root / src.relative_to(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=40, help="CamVid train frames")
    ap.add_argument("--photos", type=int, default=1200, help="Imagenette train photographs")
    ap.add_argument("--kodak", type=int, default=2, help="Kodak images (for gpu_check)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    total = 0
    camvid = args.data / "camvid"
    if camvid.is_dir():
        for split, n in (("train", args.frames), ("val", 8)):
            for p in _pick(_images(camvid / split), n, args.seed):
                total += _copy(p, camvid, args.out / "camvid")
                total += _copy(camvid / f"{split}annot" / p.name, camvid, args.out / "camvid")
    nette = args.data / "imagenette"
    if nette.is_dir():  # the same number from every class (DeepSIC wants all ten)
        for split, n in (("train", args.photos), ("val", 10)):
            classes = sorted(d for d in (nette / split).iterdir() if d.is_dir())
            for c in classes:
                for p in _pick(_images(c), max(1, n // len(classes)), args.seed + 1):
                    total += _copy(p, nette, args.out / "imagenette")
    kodak = args.data / "kodak"
    if kodak.is_dir():
        for p in _images(kodak)[: args.kodak]:
            total += _copy(p, kodak, args.out / "kodak")
    print(f"{args.out}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
