"""Encode and decode seconds of the end-to-end codecs, and the entropy-coding share.

    python benchmarks/e2e_timing.py ../shared/data/kodak -p hyperprior,menet -q 3,6,10

For each image and quality: the analysis (g_a, once per image, as a sweep does), the
encoder's hyper-latent and coding work, the decoder, and inside both the seconds spent in
the rANS coder (``app.entropy.coder.StackEncoder`` / ``StackDecoder``, timed by wrapping
their methods). Prints
the means per pipeline and quality; nothing is hard-coded.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

from app import api
from app.entropy import coder
from app.eval import find_images
from app.imageio import load_image
from app.pipelines import registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("-p", "--pipelines", default="hyperprior,menet")
    ap.add_argument("-q", "--qualities", default="3,6,10")
    args = ap.parse_args()
    spent = {"t": 0.0}

    def timed(fn):  # noqa: ANN001, ANN202
        def run(*a, **k):  # noqa: ANN002, ANN003, ANN202
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent["t"] += time.perf_counter() - t0
        return run

    # every stream goes through these classes (coder.encode / decode too): time them there
    for cls, names in ((coder.StackEncoder, ("__init__", "push", "finish")),
                       (coder.StackDecoder, ("__init__", "pop", "close"))):
        for attr in names:
            setattr(cls, attr, timed(getattr(cls, attr)))
    rows: dict[tuple[str, int], list[dict[str, float]]] = defaultdict(list)
    for path in find_images(args.images):
        image = load_image(path).array
        for name in args.pipelines.split(","):
            p = registry.get(name)
            t0 = time.perf_counter()
            prepared = p.prepare(image)
            analysis = time.perf_counter() - t0
            for q in (int(v) for v in args.qualities.split(",")):
                spent["t"] = 0.0
                coded = api.code(p, prepared, {"quality": q})
                enc_coding = spent["t"]
                spent["t"] = 0.0
                _, dec_s = api.decode_checked(p, coded.data, coded.encoded.reconstruction)
                rows[(name, q)].append({
                    "bpp": coded.bpp(), "analysis": analysis, "encode": coded.encode_s,
                    "enc_coding": enc_coding, "decode": dec_s, "dec_coding": spent["t"]})
    print(f"{'pipeline':<12} {'q':>2} {'bpp':>7} {'g_a s':>7} {'enc s':>7} {'(rANS)':>7} "
          f"{'dec s':>7} {'(rANS)':>7}  rANS share enc / dec")
    for (name, q), rs in rows.items():
        m = {k: statistics.mean(r[k] for r in rs) for k in rs[0]}
        enc_total = m["analysis"] + m["encode"]
        print(f"{name:<12} {q:>2} {m['bpp']:7.4f} {m['analysis']:7.3f} {m['encode']:7.3f} "
              f"{m['enc_coding']:7.3f} {m['decode']:7.3f} {m['dec_coding']:7.3f}  "
              f"{100 * m['enc_coding'] / enc_total:5.1f} % / "
              f"{100 * m['dec_coding'] / m['decode']:5.1f} %")
    print(f"({len(next(iter(rows.values())))} image(s); encode = g_a once + per quality "
          "h_a, h_s, coding, synthesis of the reconstruction)")


if __name__ == "__main__":
    main()
