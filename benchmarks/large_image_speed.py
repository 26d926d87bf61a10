"""Encode and decode speed of the learned pipelines on a large image (seconds/megapixel).

    python benchmarks/large_image_speed.py                       # 8.6 MP synthetic photo
    python benchmarks/large_image_speed.py --megapixels 3 --pipelines edms,smic
    python benchmarks/large_image_speed.py --image photo.jpg --json out.json

For every pipeline it encodes the image once at the pipeline's default parameters (the
``.edms`` bytes through :func:`app.api.encode`), decodes those bytes
(:func:`app.api.decode`), checks that the decoder rebuilt the encoder's reconstruction,
and prints wall seconds per megapixel for both, plus the SHA-256 of the file and of the
decoded image, so two runs (before and after a speed change) can be compared for
bit-exactness with ``--compare earlier.json``. The synthetic image is smooth colour
gradients with noise (photo-like rates; no data needed). Network loading is excluded
(one warm-up encode of a 64x64 image per pipeline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np

LEARNED = ("dsslic", "dsslic-lb", "edms", "edms-noenh", "edms-lb", "edms-pf", "edms-lb-pf",
           "smic", "layered-ref", "layered-ref-lb", "hevc-pf", "hevc-spf", "hyperprior",
           "menet", "menet-noenh", "deepsic-pre", "deepsic-post")


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients + texture + edges, HxWx3 uint8 (deterministic)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 211 + yy / 97), 128 + 90 * np.cos(yy / 143),
                    128 + 80 * np.sin((xx + yy) / 301)], -1)
    img += 30 * (((xx // 97) + (yy // 61)) % 2)[..., None]  # edges
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sha(data: bytes | np.ndarray) -> str:
    return hashlib.sha256(bytes(data) if isinstance(data, bytes) else data.tobytes()).hexdigest()


def measure(image: np.ndarray, pipeline: str) -> dict:
    from app import api

    api.encode(synthetic_photo(64, 64, 1), pipeline, {})  # load the networks
    mp = image.shape[0] * image.shape[1] / 1e6
    t0 = time.perf_counter()
    enc, data = api.encode(image, pipeline, {})
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = api.decode(data)
    t_dec = time.perf_counter() - t0
    return {"pipeline": pipeline, "megapixels": round(mp, 3),
            "encode_s_per_mp": round(t_enc / mp, 2), "decode_s_per_mp": round(t_dec / mp, 2),
            "bytes": len(data), "file_sha256": _sha(data),
            "decoded_sha256": _sha(dec.image),
            "decoder_matches_encoder": bool(np.array_equal(dec.image, enc.reconstruction))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=8.6,
                    help="size of the synthetic 3:2 image (default 8.6)")
    ap.add_argument("--image", help="an image file to use instead of the synthetic one")
    ap.add_argument("--pipelines", default=",".join(LEARNED))
    ap.add_argument("--tile-workers", type=int, default=0,
                    help="tiles computed at once (default: netrun.TILE_WORKERS); 1 = serial, "
                         "to measure what the parallel tiles gain on the same code")
    ap.add_argument("--json", help="write the measurements to this file")
    ap.add_argument("--compare", help="a --json file of an earlier run: report whether "
                    "the .edms bytes and decoded images are identical")
    args = ap.parse_args()
    if args.image:
        from app.imageio import load_image

        image = load_image(args.image, max_pixels=10**9).array
    else:
        w = int((args.megapixels * 1e6 * 1.5) ** 0.5)
        image = synthetic_photo(int(w / 1.5), w)
    import torch

    from app.pipelines import netrun

    if args.tile_workers:
        netrun.TILE_WORKERS = args.tile_workers
    h, w = image.shape[:2]
    print(f"image {w}x{h} ({h * w / 1e6:.2f} MP), tile workers {netrun.TILE_WORKERS}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    earlier = {}
    if args.compare:
        with open(args.compare) as f:
            earlier = {r["pipeline"]: r for r in json.load(f)}
    rows = []
    for name in args.pipelines.split(","):
        r = measure(image, name)
        rows.append(r)
        line = (f"{name:12s} encode {r['encode_s_per_mp']:6.2f} s/MP  decode "
                f"{r['decode_s_per_mp']:6.2f} s/MP  {r['bytes']} bytes  decoder matches "
                f"encoder: {r['decoder_matches_encoder']}")
        if name in earlier:
            same = (earlier[name]["file_sha256"] == r["file_sha256"]
                    and earlier[name]["decoded_sha256"] == r["decoded_sha256"])
            line += f"  identical to earlier run: {same}"
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
