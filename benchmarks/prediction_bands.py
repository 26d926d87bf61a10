"""Where a layered pipeline's prediction error lies, and what survives residual coding.

For each image: x' from Pillow's bicubic x8 up-sampling of the 8x8 box average (the
``layered-ref`` prediction) and from FineNet on top of it (``dsslic``, segmentation
SegNet(x)). For each prediction it prints the PSNR of x', the RMS of x - x' in a low band
(Gaussian blur, sigma 2 px) and in the rest, the bits of the halved residual coded by HEVC
at ``--qp``, and the PSNR of the final image. Uses the weights in ``models/``.

    python benchmarks/prediction_bands.py IMAGE... [--qp 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.codecs import CODEC_ID_HEVC, decode_layer, hevc  # noqa: E402
from app.metrics import psnr_rgb  # noqa: E402
from app.pipelines.dsslic import shared_nets  # noqa: E402
from app.pipelines.layered import residual_apply, residual_encode  # noqa: E402
from app.pipelines.reference import bicubic_upsample, box_downsample  # noqa: E402


def gaussian_blur(a: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Separable Gaussian blur of an HxWxC float array (radius 4 sigma, edges reflected);
    written here to keep scipy out of the dependencies."""
    r = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r, r)
        p = np.pad(a, pad, mode="symmetric")
        n = a.shape[axis]
        a = sum(wt * np.take(p, np.arange(i, i + n), axis=axis) for i, wt in enumerate(k))
    return a


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--qp", type=int, default=32)
    args = ap.parse_args(argv)
    nets = shared_nets()
    print("image | predictor | x' PSNR | RMS low | RMS high | residual bpp | final PSNR")
    for path in args.images:
        x = np.asarray(Image.open(path).convert("RGB"))
        h, w = x.shape[:2]
        c8 = box_downsample(x)
        ref = np.ascontiguousarray(bicubic_upsample(c8)[:h, :w])
        fine, _ = nets.reconstruct(c8, nets.segment(x))
        for label, pred in (("bicubic", ref), ("bicubic + FineNet", fine)):
            d = x.astype(np.float64) - pred
            low = gaussian_blur(d)
            data = hevc(args.qp, chroma=444).encode(residual_encode(x, pred))
            final = residual_apply(pred, decode_layer(CODEC_ID_HEVC, data))
            print(f"{Path(path).stem} | {label} | {psnr_rgb(x, pred):.2f} | "
                  f"{np.sqrt((low ** 2).mean()):.2f} | {np.sqrt(((d - low) ** 2).mean()):.2f} | "
                  f"{len(data) * 8 / (h * w):.4f} | {psnr_rgb(x, final):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
