"""Merge the JSON of several ``edms eval`` runs into one table, BD table and RD plot.

Useful when pipelines were evaluated in separate runs (e.g. while their weights were
still training). A pipeline in several files keeps its first occurrence. The BD table is
recomputed against ``--anchor`` with :func:`app.eval.bd_table`.

    python benchmarks/merge_results.py A.json B.json --json all.json --plot all.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.eval import bd_table, plot_rd, write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--anchor", default="hevc")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    args = ap.parse_args(argv)
    summary: dict[str, dict] = {}
    for path in args.inputs:
        for entry in json.loads(Path(path).read_text())["pipelines"]:
            summary.setdefault(entry["name"], entry)
    bd = bd_table(summary, args.anchor)
    for name, entry in summary.items():
        r = entry["results"]
        print(f"{name}  ({entry.get('description', '')})")
        key = entry.get("param", "qp")
        for i in range(len(r["bpp"])):
            print(f"  {key} {r[key][i] if key in r else '?':>4}  bpp {r['bpp'][i]:.4f}  "
                  f"PSNR {r['psnr-rgb'][i]:.2f}  MS-SSIM {r['ms-ssim-rgb'][i]:.4f}  "
                  f"HaarPSI {r['haarpsi'][i]:.4f}  enc {r['encoding_time'][i]:.2f} s  "
                  f"dec {r['decoding_time'][i]:.2f} s")
    print(f"BD against {args.anchor} (PSNR-RGB)")
    for name, row in bd.items():
        rate, psnr = row["bd-rate-%"], row["bd-psnr-db"]
        print(f"  {name:16s} BD-rate {'n/a' if rate is None else f'{rate:+7.2f} %'}  "
              f"BD-PSNR {'n/a' if psnr is None else f'{psnr:+.3f} dB'}")
    if args.json:
        write_json_atomic(args.json, {"pipelines": list(summary.values()), "anchor": args.anchor,
                                      "bd": bd, "merged_from": [Path(p).name for p in
                                                                args.inputs]})
    if args.plot:
        plot_rd(summary, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
