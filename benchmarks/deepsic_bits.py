"""Measurements of the bit-plane DeepSIC (the paper's network, ``deepsic-bp-pre`` /
``deepsic-bp-post``) with the shipped ``deepsic-bp`` weights: the context model's gain,
speed, accuracy.

``--kodak``: per Kodak image and operating point, the whole-file bpp, PSNR-RGB, encode and
decode seconds (one thread, as the pipelines run), and the feature layer's bits three
ways: as coded (learned context table), the ideal cost under that table, and the ideal
cost of the same bits in the same order with one adaptive probability per bit plane
(:func:`app.entropy.binary.adaptive_plane_bits`).

``--imagenette``: the paper's Table I on Imagenette val: top-1/top-5 accuracy of
``deepsic-bp-pre`` (classes read back from the file's class layer) and ``deepsic-bp-post``
(classes computed by the decoder) at each operating point, with the whole-file bpp.

Usage: ``python benchmarks/deepsic_bits.py --kodak [--images 24]`` /
``python benchmarks/deepsic_bits.py --imagenette [--per-class 100]``. Skips (exit 0) when
``../shared/data`` is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.classes import IMAGENETTE_CLASSES  # noqa: E402
from app.container import from_bytes, to_bytes  # noqa: E402
from app.entropy import binary  # noqa: E402
from app.pipelines import classlayer, registry  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RATES = (1, 2, 3, 4)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def kodak(n: int) -> dict:
    paths = sorted((DATA / "kodak").glob("kodim*.png"))[:n]
    rows: dict[int, dict[str, list[float]]] = {r: {} for r in RATES}
    for name in ("deepsic-bp-pre", "deepsic-bp-post"):
        p = registry.get(name)
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"))
            h, w = image.shape[:2]
            t0 = time.perf_counter()
            prepared = p.prepare(image)
            t_prep = time.perf_counter() - t0
            for r in RATES:
                t0 = time.perf_counter()
                enc = p.encode_prepared(prepared, p.check_params({"rate": r}))
                data = to_bytes(enc)
                t_enc = time.perf_counter() - t0 + t_prep
                t0 = time.perf_counter()
                dec = p.decode(from_bytes(data))
                t_dec = time.perf_counter() - t0
                assert np.array_equal(dec, enc.reconstruction)
                row = rows[r].setdefault(name, [])
                kept = p.kept({"rate": r})
                u = binary.to_symbols(prepared.codes[0, :kept].to(torch.int64).numpy())
                row.append([8 * len(data) / (h * w), psnr(image, dec), t_enc, t_dec,
                            8 * len(enc.layers[-1].data), float(enc.views["bits"].sum()),
                            binary.adaptive_plane_bits(u)])
    out = {}
    for r in RATES:
        for name, vals in rows[r].items():
            a = np.array(vals)
            out[f"{name} rate={r}"] = {
                "bpp": a[:, 0].mean(), "psnr": a[:, 1].mean(), "enc_s": a[:, 2].mean(),
                "dec_s": a[:, 3].mean(), "feature_bits_coded": a[:, 4].sum(),
                "feature_bits_ideal_context": a[:, 5].sum(),
                "feature_bits_adaptive_per_plane": a[:, 6].sum(),
                "gain_%": 100 * (1 - a[:, 4].sum() / a[:, 6].sum())}
    return {"images": len(paths), "results": out}


def imagenette(per_class: int) -> dict:
    items = []
    for index, (wnid, _) in enumerate(IMAGENETTE_CLASSES):
        paths = sorted((DATA / "imagenette" / "val" / wnid).glob("*.JPEG"))[:per_class]
        items += [(p, index) for p in paths]
    stats = {(n, r): [0, 0, 0.0] for n in ("deepsic-bp-pre", "deepsic-bp-post") for r in RATES}
    for name in ("deepsic-bp-pre", "deepsic-bp-post"):
        p = registry.get(name)
        for path, label in items:
            image = np.asarray(Image.open(path).convert("RGB"))
            h, w = image.shape[:2]
            prepared = p.prepare(image)
            for r in RATES:
                enc = p.encode_prepared(prepared, p.check_params({"rate": r}))
                data = to_bytes(enc)
                if name == "deepsic-bp-pre":  # what a reader of the file gets
                    top = [c.index for c in classlayer.classes_of(from_bytes(data))]
                else:  # the decoder's classes (bit-exact with the encoder's, tested)
                    top = enc.views["classes"].tolist()
                s = stats[(name, r)]
                s[0] += int(top[0] == label)
                s[1] += int(label in top[:5])
                s[2] += 8 * len(data) / (h * w)
    n = len(items)
    return {"images": n, "results": {f"{k[0]} rate={k[1]}": {
        "top1": v[0] / n, "top5": v[1] / n, "bpp": v[2] / n} for k, v in stats.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", action="store_true")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--imagenette", action="store_true")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    out = {}
    if args.kodak:
        out["kodak"] = kodak(args.images)
    if args.imagenette:
        out["imagenette"] = imagenette(args.per_class)
    text = json.dumps(out, indent=2, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
