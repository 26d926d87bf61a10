"""The rate-accuracy tables of docs/results.md from ``edms eval --task`` documents:

    edms eval --task segmentation ../shared/data/camvid/val -p hevc,menet --json camvid.json
    python benchmarks/task_table.py camvid.json [--per-class menet:quality=6]

Prints, per pipeline and setting, the mean bpp (whole files), PSNR-RGB, the *analysed*
accuracy (the reference network on the decoded image) and the *carried* one (what the
file delivers itself), mIoU for segmentation, top-1 / top-5 for classification; then the
BD-rate at equal accuracy against the document's anchor (hevc), of the analysed and of
the carried accuracy (over each curve's rising part, ``app.eval.rising_front``): negative
means fewer bits than the anchor's decoded images need for the reference network to
score as well. ``--per-class PIPELINE:PARAM=V`` adds the per-class IoU of one setting
(segmentation), analysed and carried.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _fmt(v: Any, digits: int = 3) -> str:
    return "" if v is None or v == "nan" else f"{float(v):.{digits}f}"


def _pct(v: Any) -> str:
    return "—" if v is None or isinstance(v, str) else f"{float(v):+.1f} %"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("document", type=Path)
    ap.add_argument("--per-class", default="", help="PIPELINE:PARAM=VALUE")
    args = ap.parse_args(argv)
    from app.classes import CAMVID_CLASSES

    doc = json.loads(args.document.read_text())
    entries = doc["pipelines"]
    seg = any("miou" in e["results"] for e in entries)
    accs = ["miou"] if seg else ["top1", "top5"]
    head = " | ".join(f"{a} analysed | {a} carried" for a in accs)
    print(f"| pipeline | setting | bpp | PSNR (dB) | {head} |")
    print("|---|---|---:|---:|" + "---:|" * (2 * len(accs)))
    for e in entries:
        res = e["results"]
        params = [p for p in e.get("params", [e["param"]]) if p in res]
        for i, bpp in enumerate(res["bpp"]):
            setting = " ".join(f"{p} {res[p][i]}" for p in params)
            cells = []
            for a in accs:
                for key in (a, a + "-carried"):
                    vals = res.get(key)
                    cells.append(_fmt(vals[i]) if vals else "")
            print(f"| `{e['name']}` | {setting} | {bpp:.3f} | {_fmt(res['psnr-rgb'][i], 2)} | "
                  + " | ".join(cells) + " |")
    bd = doc.get("bd", {})
    if bd:
        anchor = doc.get("anchor", "hevc")
        print(f"\nBD-rate at equal accuracy against `{anchor}` (analysed):\n")
        acc = accs[0]
        print(f"| pipeline | {acc} analysed | {acc} carried | PSNR |")
        print("|---|---:|---:|---:|")
        for name, row in bd.items():
            print(f"| `{name}` | {_pct(row.get(f'bd-rate-{acc}-%'))} | "
                  f"{_pct(row.get(f'bd-rate-{acc}-carried-%'))} | "
                  f"{_pct(row.get('bd-rate-%'))} |")
    if args.per_class:
        name, _, rest = args.per_class.partition(":")
        param, _, value = rest.partition("=")
        entry = next((e for e in entries if e["name"] == name), None)
        if entry is None or param not in entry["results"]:
            print(f"error: no {name} with {param} in {args.document}", file=sys.stderr)
            return 2
        res = entry["results"]
        i = res[param].index(int(value))
        print(f"\nPer-class IoU, `{name}` {param} {value} ({res['bpp'][i]:.3f} bpp):\n")
        print("| class | analysed | carried |")
        print("|---|---:|---:|")
        an = res.get("per-class-iou", [None] * len(res["bpp"]))[i] or {}
        ca = res.get("per-class-iou-carried", [None] * len(res["bpp"]))[i] or {}
        for cname in CAMVID_CLASSES:  # per-class IoU: {class name: IoU}
            print(f"| {cname} | {_fmt(an.get(cname))} | {_fmt(ca.get(cname))} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
