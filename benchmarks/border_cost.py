"""What an image's border costs each codec, from ``edms eval --json`` documents.

    edms eval -p hevc,hyperprior,menet,deepsic-pre ../shared/data/kodak --json kodak.json
    python benchmarks/border_cost.py kodak.json [heldout.json ...]

Every point ``edms eval`` measures records ``border-cost-db``: the PSNR-RGB of the image's
interior (everything at least 4 pixels from every edge) minus the whole image's, i.e. the
dB that the outer 4 rows and columns take off the image's PSNR
(:func:`app.metrics.border_cost`), averaged over the images of each setting. This prints,
per document and pipeline, the cost at each setting (with its mean bpp) and the mean over
the settings. Content alone makes borders differ (several Kodak scans end in a dark row
or column), so read a codec's cost beside HEVC's on the same images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def table(doc: dict) -> list[tuple[str, list[tuple[float, float]], float]]:
    """(pipeline, [(bpp, cost dB) per setting], mean cost) for every pipeline with costs."""
    rows = []
    for entry in doc.get("pipelines", []):  # results_document: a list of summary entries
        name = entry["name"]
        res = entry.get("results", {})
        costs = res.get("border-cost-db")
        if not costs:
            continue
        pairs = list(zip(res["bpp"], costs, strict=True))
        rows.append((name, pairs, float(np.mean(costs))))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("documents", nargs="+", type=Path)
    args = ap.parse_args(argv)
    for path in args.documents:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
        rows = table(doc)
        if not rows:
            print(f"error: {path} has no border-cost-db results (measured by an older "
                  "edms eval?)", file=sys.stderr)
            return 2
        print(f"## {path.name}\n")
        print("| pipeline | mean cost (dB) | cost at each setting: bpp / dB |")
        print("|---|---:|---|")
        for name, pairs, mean in sorted(rows, key=lambda r: r[2]):
            cells = ", ".join(f"{b:.3f} / {c:.3f}" for b, c in pairs)
            print(f"| `{name}` | {mean:.3f} | {cells} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
