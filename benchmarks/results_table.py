"""The opening table of docs/results.md from ``edms eval --json`` documents:

    python benchmarks/results_table.py KODAK.json [MORE.json ...] [--order a,b,c]

For every pipeline in the documents (one document may hold some pipelines, another the
rest, all measured on the same images): its BD-rate (PSNR-RGB, Akima, whole files)
against our calibrated ``hevc`` and against the published BPG 4:4:4 and VTM curves of
``resources/reference-curves/kodak/``, its BD-rate at equal MS-SSIM against ``hevc``, its
bpp range, and its mean encode and decode seconds per image (over its sweep). Prints a
Markdown table. The published curves are CompressAI's, not measured here.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from app import metrics
from app.eval import bd_table

REFS = Path(__file__).resolve().parents[1] / "resources" / "reference-curves" / "kodak"


def _published(name: str) -> tuple[list[float], list[float]]:
    res = json.loads((REFS / f"{name}.json").read_text())["results"]
    return res["bpp"], res.get("psnr-rgb", res.get("psnr"))


def _fmt(x: float | None, unit: str = " %") -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:+.1f}{unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("documents", nargs="+", type=Path)
    ap.add_argument("--order", default="", help="pipelines first, in this order")
    args = ap.parse_args(argv)
    summary: dict[str, dict] = {}
    for doc in args.documents:
        for entry in json.loads(doc.read_text())["pipelines"]:
            if entry["name"] in summary:
                raise SystemExit(f"{doc}: {entry['name']} is in two documents; give one")
            summary[entry["name"]] = entry
    if "hevc" not in summary:
        raise SystemExit("no hevc curve in the documents: it is the anchor")
    ours = bd_table(summary, "hevc")
    bpg, vtm = _published("bpg_444_x265_ycbcr"), _published("vtm")
    order = [n for n in args.order.split(",") if n in summary]
    order += sorted(n for n in summary if n not in order)
    print("| pipeline | vs `hevc` (PSNR) | vs `hevc` (MS-SSIM) | vs BPG 4:4:4 (published) "
          "| vs VTM (published) | bpp range | encode s | decode s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for name in order:
        res = summary[name]["results"]
        row = ours.get(name, {})
        pub = []
        for ref in (bpg, vtm):
            try:
                pub.append(metrics.bd_rate(ref[0], ref[1], res["bpp"], res["psnr-rgb"]))
            except ValueError:
                pub.append(None)
        enc = sum(res["encoding_time"]) / len(res["encoding_time"])
        dec = sum(res["decoding_time"]) / len(res["decoding_time"])
        print(f"| `{name}` | {_fmt(row.get('bd-rate-%'))} | "
              f"{_fmt(row.get('bd-rate-msssim-%'))} | {_fmt(pub[0])} | {_fmt(pub[1])} | "
              f"{min(res['bpp']):.3f}–{max(res['bpp']):.3f} | {enc:.2f} | {dec:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
