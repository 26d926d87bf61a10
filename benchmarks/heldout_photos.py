"""Write held-out natural photographs to a folder, for ``edms eval``:

    python benchmarks/heldout_photos.py HELDOUT_PHOTOS
    edms eval -p jpeg2000,hyperprior,menet HELDOUT_PHOTOS --anchor jpeg2000

The photographs are scikit-image's (it is installed with the workbench, so anyone can
rebuild the same set): astronaut, chelsea, coffee and rocket, RGB PNGs of 300x451 to
427x640 pixels. No network of the workbench has trained or been tuned on them, and they
are not Kodak (evaluation only) nor CamVid or Imagenette (training data): a check of how
the codecs generalise to ordinary photographs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir", type=Path)
    args = ap.parse_args(argv)
    import skimage.data

    from app.imageio import save_image_atomic

    args.outdir.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        rgb = np.ascontiguousarray(getattr(skimage.data, name)()[..., :3], dtype=np.uint8)
        save_image_atomic(args.outdir / f"{name}.png", rgb)
        print(f"{args.outdir / name}.png  {rgb.shape[1]}x{rgb.shape[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
