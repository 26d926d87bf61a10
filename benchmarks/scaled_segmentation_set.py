"""Write a labelled segmentation set at another resolution, for ``edms eval --task``:

    python benchmarks/scaled_segmentation_set.py ../shared/data/camvid/val CAMVID_960 --scale 2
    edms eval --task segmentation CAMVID_960/val -p hevc,menet

CamVid as the SegNet tutorial distributes it is 480x360; road frames met in use are
larger (CamVid's own are 960x720, dash cameras more). A network that only ever saw
480x360 frames meets objects at twice the size there, so its carried map is judged at
both. Images are resampled with Pillow's bicubic filter, label maps with nearest
neighbour (void stays void); the pairs keep their file names (``OUT/val`` and
``OUT/valannot``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", type=Path, help="the image folder (its labels in IMAGESannot/)")
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--every", type=int, default=1, help="keep every N-th pair only")
    args = ap.parse_args(argv)
    from PIL import Image

    from app.tasks import TaskDataError, segmentation_set

    try:
        pairs = segmentation_set(args.images)
    except TaskDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    img_dir, lab_dir = args.outdir / "val", args.outdir / "valannot"
    img_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.mkdir(parents=True, exist_ok=True)
    pairs = pairs[::max(1, args.every)]
    for item in pairs:
        with Image.open(item.image) as im, Image.open(item.label) as lab:
            size = (round(im.width * args.scale), round(im.height * args.scale))
            im.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(
                img_dir / f"{item.image.stem}.png")
            lab.resize(size, Image.Resampling.NEAREST).save(lab_dir / f"{item.image.stem}.png")
    print(f"{len(pairs)} pairs at x{args.scale} in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
