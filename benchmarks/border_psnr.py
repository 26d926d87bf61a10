"""PSNR of the outermost rows and columns of decoded images against the interior.

    python benchmarks/border_psnr.py --images ../shared/data/kodak/kodim23.png,...
    python benchmarks/border_psnr.py --crop 509x765      # also a non-multiple-of-8 crop

For each pipeline and image it encodes at the pipeline's default parameters, decodes the
``.edms`` bytes, and prints the PSNR (dB, RGB) of the top, bottom, left and right bands
of ``--band`` pixels (8 and 16 by default) and of the interior (everything at least 16
pixels from every edge). A band much worse than the interior in the learned pipelines
but not in ``layered-ref``/``hevc`` (same content) points to padding or tiling at that
edge; a band that is worse everywhere is the content.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

PIPELINES = ("hevc", "layered-ref", "dsslic", "edms", "edms-noenh", "edms-lb", "edms-pf",
             "edms-lb-pf", "smic")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def border_psnrs(image: np.ndarray, decoded: np.ndarray, band: int,
                 inner: int = 16) -> dict[str, float]:
    """PSNR of each edge band of ``band`` pixels and of the interior ``inner`` px in."""
    return {"top": psnr(image[:band], decoded[:band]),
            "bottom": psnr(image[-band:], decoded[-band:]),
            "left": psnr(image[:, :band], decoded[:, :band]),
            "right": psnr(image[:, -band:], decoded[:, -band:]),
            "interior": psnr(image[inner:-inner, inner:-inner],
                             decoded[inner:-inner, inner:-inner])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True, help="comma-separated image files")
    ap.add_argument("--crop", default="", help="also crop each image to HxW (top left)")
    ap.add_argument("--pipelines", default=",".join(PIPELINES))
    ap.add_argument("--bands", default="8,16")
    args = ap.parse_args()
    from app import api
    from app.imageio import load_image

    images = []
    for path in args.images.split(","):
        img = load_image(path).array
        images.append((path.rsplit("/", 1)[-1], img))
        if args.crop:
            h, w = (int(v) for v in args.crop.split("x"))
            images.append((f"{path.rsplit('/', 1)[-1]}[:{h},:{w}]", img[:h, :w].copy()))
    print(f"{'pipeline':12s} {'image':24s} band  top    bottom left   right  interior")
    for name in args.pipelines.split(","):
        for label, img in images:
            _, data = api.encode(img, name, {})
            dec = api.decode(data).image
            for band in (int(b) for b in args.bands.split(",")):
                r = border_psnrs(img, dec, band)
                print(f"{name:12s} {label:24s} {band:4d}  " + " ".join(
                    f"{r[k]:6.2f}" for k in ("top", "bottom", "left", "right", "interior")),
                    flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
