"""How many bytes the stripped HEVC layer saves over the full HEIF file libheif writes.

For every Kodak image (``../shared/data/kodak``; skipped when absent) and each QP, encode
with :class:`app.codecs.hevc.HevcCodec`, compare ``len(encode_full_heif)`` with
``len(encode)`` and check that the stripped layer decodes to exactly the pixels of the
full HEIF. Prints the mean bytes and bpp saved per image.

Usage: ``python benchmarks/hevc_wrapper_overhead.py [--qp 32 --qp 42] [--chroma 444]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.codecs.hevc import HevcCodec, decode_heif  # noqa: E402

KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qp", type=int, action="append")
    parser.add_argument("--chroma", type=int, action="append")
    args = parser.parse_args()
    if not KODAK.is_dir():
        print(f"skipped: {KODAK} not found")
        return
    paths = sorted(KODAK.glob("kodim*.png"))
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    print(f"{len(images)} Kodak images")
    print("chroma  QP  full HEIF bpp  layer bpp  saved bytes/image  saved bpp  identical")
    for chroma in args.chroma or [444, 420]:
        for qp in args.qp or [32, 42]:
            codec = HevcCodec(qp, chroma=chroma)
            saved, saved_bpp, full_bpp, layer_bpp, identical = [], [], [], [], True
            for img in images:
                pixels = img.shape[0] * img.shape[1]
                full = codec.encode_full_heif(img)
                layer = codec.strip(full, img.shape[1], img.shape[0])
                identical &= bool(np.array_equal(decode_heif(full), codec.decode(layer)))
                saved.append(len(full) - len(layer))
                saved_bpp.append(8 * saved[-1] / pixels)
                full_bpp.append(8 * len(full) / pixels)
                layer_bpp.append(8 * len(layer) / pixels)
            print(
                f"{chroma:6d} {qp:3d} {np.mean(full_bpp):14.4f} {np.mean(layer_bpp):10.4f} "
                f"{np.mean(saved):18.1f} {np.mean(saved_bpp):10.5f}  {identical}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
