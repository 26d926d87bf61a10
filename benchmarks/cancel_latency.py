"""How long Cancel takes to stop an encode on a large image (what the GUI's worker sees).

    python benchmarks/cancel_latency.py                          # 8.6 MP, edms and smic
    python benchmarks/cancel_latency.py --pipelines edms-pf --after 2,6,12

For every pipeline and every delay in ``--after`` (seconds) it starts an encode of the
synthetic photo of ``benchmarks/large_image_speed.py`` on a thread, inside
:func:`app.cancel.watching` with a stop flag as the GUI's worker does, sets the
flag after the delay and prints how long the encode took to raise ``Cancelled`` (or
that it had finished first). Network loading is excluded (a warm-up encode of a small
image per pipeline).
"""

from __future__ import annotations

import argparse
import threading
import time

from large_image_speed import synthetic_photo


def stop_latency(image, pipeline: str, after: float) -> float | None:  # noqa: ANN001
    """Seconds from the stop request to ``Cancelled``; None if the encode ended first."""
    from app import api
    from app.cancel import watching
    from app.errors import Cancelled

    stop = threading.Event()
    out: dict[str, float | None] = {}

    def work() -> None:
        try:
            with watching(cancelled=stop.is_set):
                api.encode(image, pipeline, {})
            out["t"] = None
        except Cancelled:
            out["t"] = time.perf_counter()

    t = threading.Thread(target=work)
    t.start()
    t.join(after)
    if not t.is_alive():
        return None
    asked = time.perf_counter()
    stop.set()
    t.join()
    got = out.get("t")
    return None if got is None else got - asked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=8.6)
    ap.add_argument("--pipelines", default="edms,smic")
    ap.add_argument("--after", default="3,8,15", help="seconds before the stop request")
    args = ap.parse_args()
    from app import api

    side = (args.megapixels * 1e6 / 1.5) ** 0.5
    image = synthetic_photo(int(side), int(side * 1.5))
    mp = image.shape[0] * image.shape[1] / 1e6
    for name in args.pipelines.split(","):
        api.encode(synthetic_photo(64, 64, 1), name, {})  # load the networks
        for after in (float(v) for v in args.after.split(",")):
            lat = stop_latency(image, name, after)
            what = "finished before the request" if lat is None else f"stopped in {lat:.3f} s"
            print(f"{name} {mp:.1f} MP, stop requested after {after:g} s: {what}", flush=True)
            time.sleep(1.0)  # let an abandoned call end before the next run


if __name__ == "__main__":
    main()
