"""Where a layered pipeline's prediction error lies, and what survives residual coding.

For each image: x' from Pillow's bicubic x8 up-sampling of the 8x8 box average (the
``layered-ref`` prediction) and from FineNet on top of it (``dsslic``, segmentation
SegNet(x)). For each prediction it prints the PSNR of x', the RMS of x - x' in a low band
(Gaussian blur, ``--sigma``, 2 px by default) and in the rest, the bits of the halved
residual coded by HEVC at ``--qp``, and the PSNR of the final image. Uses the weights in
``models/``.

A third predictor is an *oracle*, not a codec: bicubic plus the exact low band of the
original's error, x' + blur(x - x'). No decoder can have it; it bounds what any network
that only removes low-band error (all FineNet can do from a x8 base) could gain.

With ``--qps`` (several QPs) it also prints, per predictor, the mean RD curve (bpp of the
lossless base layer plus the residual, PSNR-RGB) over the images and its BD-rate against
HEVC 4:4:4 and against the bicubic predictor.

    python benchmarks/prediction_bands.py IMAGE... [--qp 32] [--qps 22,27,32,37,42]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.codecs import CODEC_ID_HEVC, decode_layer, encode_smallest_lossless, hevc  # noqa: E402
from app.metrics import bd_rate, psnr_rgb  # noqa: E402
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


def _predictors(x: np.ndarray, nets, sigma: float
                ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    h, w = x.shape[:2]
    c8 = box_downsample(x)
    ref = np.ascontiguousarray(bicubic_upsample(c8)[:h, :w])
    fine, _ = nets.reconstruct(c8, nets.segment(x))
    d = x.astype(np.float64) - ref
    oracle = np.clip(np.rint(ref + gaussian_blur(d, sigma)), 0, 255).astype(np.uint8)
    return c8, [("bicubic", ref), ("bicubic + FineNet", fine),
                ("oracle: bicubic + exact low band", oracle)]


def _code(x: np.ndarray, pred: np.ndarray, qp: int) -> tuple[int, np.ndarray]:
    data = hevc(qp, chroma=444).encode(residual_encode(x, pred))
    return len(data), residual_apply(pred, decode_layer(CODEC_ID_HEVC, data))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--qp", type=int, default=32)
    ap.add_argument("--sigma", type=float, default=2.0,
                    help="Gaussian sigma (px) of the low band, for the split and the oracle")
    ap.add_argument("--qps", default=None, help="comma-separated QPs for RD curves and BD-rates")
    args = ap.parse_args(argv)
    nets = shared_nets()
    qps = [int(q) for q in args.qps.split(",")] if args.qps else []
    curves: dict[str, list[list[tuple[float, float]]]] = {}
    print("image | predictor | x' PSNR | RMS low | RMS high | residual bpp | final PSNR")
    for path in args.images:
        x = np.asarray(Image.open(path).convert("RGB"))
        h, w = x.shape[:2]
        c8, preds = _predictors(x, nets, args.sigma)
        base_bytes = len(encode_smallest_lossless(c8)[1])
        for label, pred in preds:
            d = x.astype(np.float64) - pred
            low = gaussian_blur(d, args.sigma)
            coded = {qp: _code(x, pred, qp) for qp in dict.fromkeys([args.qp, *qps])}
            nbytes, final = coded[args.qp]
            print(f"{Path(path).stem} | {label} | {psnr_rgb(x, pred):.2f} | "
                  f"{np.sqrt((low ** 2).mean()):.2f} | {np.sqrt(((d - low) ** 2).mean()):.2f} | "
                  f"{nbytes * 8 / (h * w):.4f} | {psnr_rgb(x, final):.2f}", flush=True)
            curves.setdefault(label, []).append(
                [((base_bytes + coded[qp][0]) * 8 / (h * w), psnr_rgb(x, coded[qp][1]))
                 for qp in qps])
        if qps:
            pts = []
            for qp in qps:
                data = hevc(qp, chroma=444).encode(x)
                pts.append((len(data) * 8 / (h * w), psnr_rgb(x, decode_layer(CODEC_ID_HEVC,
                                                                                 data))))
            curves.setdefault("HEVC 4:4:4", []).append(pts)
    if qps:
        mean = {k: np.mean(np.array(v), axis=0) for k, v in curves.items()}  # (qp, [bpp, dB])
        hv, bi = mean["HEVC 4:4:4"], mean["bicubic"]
        print(f"\nmean over {len(args.images)} images, QP {qps} (bpp includes the lossless base)")
        for k, m in mean.items():
            pts = "  ".join(f"{b:.4f}/{p:.2f}" for b, p in m)
            vs = "" if k == "HEVC 4:4:4" else (
                f" | BD-rate vs HEVC {bd_rate(hv[:, 0], hv[:, 1], m[:, 0], m[:, 1]):+.1f} %, "
                f"vs bicubic {bd_rate(bi[:, 0], bi[:, 1], m[:, 0], m[:, 1]):+.1f} %")
            print(f"{k}: {pts}{vs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
