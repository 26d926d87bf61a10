"""BD-rate of measured curves against published ones (the calibration of the baselines).

    python benchmarks/published_bd.py OURS.json PIPELINE=PUBLISHED.json [...]

``OURS.json`` is an ``edms eval --json`` document; each ``PIPELINE=FILE`` pairs one of its
pipelines with a CompressAI-format results file (``name``, ``results`` with ``bpp`` and
``psnr-rgb`` or ``psnr``; the published Kodak curves ship under
``resources/reference-curves/kodak/``). Prints, per pair, the BD-rate (PSNR-RGB, Akima,
over the range both curves cover; negative: ours needs fewer bits) and the range of each
curve, so the calibration table of ``docs/codecs.md`` is re-measured by one command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app import metrics


def _published(path: Path) -> tuple[str, list[float], list[float]]:
    doc = json.loads(path.read_text())
    res = doc["results"]
    psnr = res.get("psnr-rgb", res.get("psnr"))
    if psnr is None:
        raise SystemExit(f"{path}: no psnr-rgb or psnr list")
    return str(doc.get("name", path.stem)), [float(b) for b in res["bpp"]], [float(p) for p in psnr]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    ours = {e["name"]: e for e in json.loads(Path(argv[0]).read_text())["pipelines"]}
    print(f"{'pipeline':<12} {'published':<24} {'BD-rate':>8}  ours bpp range"
          "    published bpp range")
    for pair in argv[1:]:
        name, _, file = pair.partition("=")
        if name not in ours:
            raise SystemExit(f"{name} is not in {argv[0]}")
        res = ours[name]["results"]
        label, pb, pp = _published(Path(file))
        bd = metrics.bd_rate(pb, pp, res["bpp"], res["psnr-rgb"])
        print(f"{name:<12} {label:<24} {bd:+7.1f} %  {min(res['bpp']):.3f}-{max(res['bpp']):.3f}"
              f"      {min(pb):.3f}-{max(pb):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
