"""Peak memory and time of encoding + decoding a large image with a layered pipeline.

    python benchmarks/large_image_memory.py --pipeline dsslic --megapixels 24

Runs encode and decode in a child process each and prints their peak resident memory
(``ru_maxrss``) and wall time. A smooth synthetic photo-like image is used (no data
needed). With ``--random-weights`` the shipped weights are replaced by freshly
initialised networks (memory does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
from app import api
from app.imageio import load_image, save_image_atomic
mode, src, dst, pipeline, params = sys.argv[1:6]
t0 = time.perf_counter()
if mode == "encode":
    image = load_image(src, max_pixels=10**9).array
    enc, data = api.encode(image, pipeline, json.loads(params))
    open(dst, "wb").write(data)
    extra = {"bytes": len(data)}
else:
    dec = api.decode(src)
    save_image_atomic(dst, dec.image)
    extra = {}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "seconds": time.perf_counter() - t0, "peak_mib": peak, **extra}))
"""


def synth(h: int, w: int):
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(xx / 211 + yy / 97), 128 + 90 * np.cos(yy / 143),
                    128 + 80 * np.sin((xx + yy) / 301)], -1)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pipeline", default="dsslic")
    ap.add_argument("--megapixels", type=float, default=24)
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--params", default='{"qp": 32}',
                    help='the encoder parameters as JSON, e.g. \'{"quality": 4}\'')
    args = ap.parse_args()
    from app.imageio import save_image_atomic

    w = int((args.megapixels * 1e6 * 1.5) ** 0.5)
    h = int(args.megapixels * 1e6 / w)
    env = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.random_weights:
            import os

            import torch

            from app.nets.dsslic import CONFIGS as D
            from app.nets.dsslic import build_dsslic
            from app.nets.segnet import CONFIGS as S
            from app.nets.segnet import build_segnet
            from app.nets.smapnet import CONFIGS as M
            from app.nets.smapnet import build_smapnet
            from app.train.common import export_safetensors

            torch.manual_seed(0)
            for name, build, cfg in (("segnet", build_segnet, S), ("dsslic", build_dsslic, D),
                                     ("smapnet", build_smapnet, M)):
                export_safetensors(build("lite").state_dict(), tmp, f"{name}-lite",
                                   {"config": cfg["lite"]})
            env = {**os.environ, "EDMS_MODELS_DIR": str(tmp)}
        save_image_atomic(tmp / "in.png", synth(h, w))
        print(f"{args.pipeline}: {w}x{h} ({w * h / 1e6:.1f} MP)")
        for mode, src, dst in (("encode", "in.png", "a.edms"), ("decode", "a.edms", "out.png")):
            res = subprocess.run([sys.executable, "-c", CHILD, mode, str(tmp / src),
                                  str(tmp / dst), args.pipeline, args.params],
                                 capture_output=True,
                                 text=True, env=env)
            if res.returncode:
                print(res.stderr[-2000:])
                return 1
            print(json.loads(res.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
