"""Command-line interface: ``edms`` / ``python -m app``.

Every user error ends with one line on stderr and a non-zero exit status; outputs are
written atomically (temporary file, then rename), so a failed command leaves no partial
file. Set ``EDMS_DEBUG=1`` to get tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

# The commands import what they use inside themselves, so torch, Qt and the codecs load
# only for the command that needs them (`edms --help` stays instant); all those imports
# point down the layer table (lint-imports checks them with the others).

EXIT_USER = 1
EXIT_INTERNAL = 3


def _print_err(msg: str) -> None:
    print(f"edms: error: {msg}", file=sys.stderr)


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    return values


def _choice_value(pname: str, text: str) -> int:
    """The integer of the choice ``text`` of a categorical parameter ``pname`` (``tune=visual``),
    looked up in the registered specs (torch-free)."""
    from app.pipelines import registry

    for spec in registry.named_params(pname):
        if text in spec.choices:
            return spec.parse(text)
    raise argparse.ArgumentTypeError(f"{pname}: {text!r} is neither an integer nor a named "
                                     "value of that parameter")


def _param_arg(text: str) -> tuple[str, list[int]]:
    """``[PIPELINE:]NAME=V1,V2,...`` (``--param``); a categorical parameter's values may be
    given by name (``tune=visual``)."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=V1,V2,..., got {text!r}")
    pname = name.strip().rpartition(":")[2]
    parts = [v for v in values.replace(" ", "").split(",") if v]
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one value")
    return name.strip(), [int(v) if v.lstrip("-").isdigit() else _choice_value(pname, v)
                          for v in parts]


def _param_dict(pairs: list[tuple[str, list[int]]] | None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, values in pairs or []:
        out.setdefault(name, []).extend(values)
    return out


def _load(path: str, max_pixels: int):
    from app.imageio import load_image

    loaded = load_image(path, max_pixels=max_pixels)
    for note in loaded.notes:
        print(f"note: {path}: {note}", file=sys.stderr)
    return loaded.array


def _param_for(pipeline, q: int | None, extra: dict[str, list[int]] | None = None
               ) -> dict[str, int]:
    from app.errors import PipelineError

    out = {} if q is None else {pipeline.params[0].name: q}
    for name, values in (extra or {}).items():
        if len(values) != 1:
            raise PipelineError(f"--param {name}: give one value to encode, got {values}")
        out[name] = values[0]
    return out


def cmd_encode(args: argparse.Namespace) -> int:
    from app import api, metrics
    from app.atomic import write_bytes_atomic
    from app.imageio import save_image_atomic
    from app.pipelines import registry

    image = _load(args.image, args.max_pixels)
    pipeline = registry.get(args.pipeline)
    params = pipeline.check_params(_param_for(pipeline, args.q, _param_dict(args.param)))
    t0 = time.perf_counter()
    coded = api.code(pipeline, pipeline.prepare(image), params)
    seconds = time.perf_counter() - t0
    enc = coded.encoded
    write_bytes_atomic(args.output, coded.data)
    size = coded.file_bytes
    h, w = image.shape[:2]
    line = (
        f"{args.output}: {args.pipeline} {enc.params}, {size} bytes, "
        f"{metrics.bpp(size, w, h):.4f} bpp, encoded in {seconds:.2f} s"
    )
    if enc.reconstruction is not None:
        line += f", PSNR {metrics.psnr_rgb(image, enc.reconstruction):.2f} dB"
        if args.recon:
            save_image_atomic(args.recon, enc.reconstruction)
    print(line)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from app import api
    from app.imageio import save_image_atomic

    t0 = time.perf_counter()
    dec = api.decode(args.input)
    seconds = time.perf_counter() - t0
    save_image_atomic(args.output, dec.image)
    print(
        f"{args.output}: {dec.encoded.width}x{dec.encoded.height} from {dec.encoded.pipeline} "
        f"{dec.encoded.params}, decoded in {seconds:.2f} s"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from app.container import describe, read_edms
    from app.pipelines import classlayer, registry

    encoded = read_edms(args.input)
    info = describe(encoded)
    w, h = info["width"], info["height"]
    for layer in info["layers"]:
        layer["codec"] = registry.codec_name(encoded.pipeline, layer["codec_id"])
    classes = classlayer.classes_of(encoded)
    if classes is not None:
        info["classes"] = [{"index": c.index, "name": c.name, "probability": c.probability}
                           for c in classes]
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"{'file':<18}{args.input} ({info['total_bytes']} bytes, {info['bpp']:.4f} bpp)")
    for key in ("format_version", "pipeline", "pipeline_version", "model_fingerprint",
                "width", "height", "params", "header_bytes", "payload_bytes"):
        if key in info:
            print(f"{key:<18}{info[key] if info[key] != '' else 'none'}")
    print("layers")
    for i, layer in enumerate(info["layers"]):
        bits = 8 * layer["bytes"] / (w * h)
        print(f"  {i}: {layer['name']:<16} {layer['codec']:<16} {layer['bytes']:>9} bytes "
              f"{bits:.4f} bpp")
    if classes is not None:
        print("classes (top-5 predicted by the encoder)")
        for c in classes:
            print(f"  {c.index:>2} {c.name:<18} {c.probability:7.2%}")
    return 0


# codec ids of the learned pipelines' layers (their coders live outside app.codecs)

def cmd_search(args: argparse.Namespace) -> int:
    """List the .edms files of a folder whose stored classes match, reading only each
    file's header and class layer (no image is decoded, no network loaded)."""
    from app.classes import IMAGENETTE_NAMES
    from app.container import read_edms_layers
    from app.errors import EdmsError, PipelineError
    from app.pipelines import classlayer

    wanted = classlayer.matches(args.cls)
    if not wanted:
        raise PipelineError(f"no class matches {args.cls!r}; the classes are: "
                            + ", ".join(IMAGENETTE_NAMES))
    if args.top < 1:
        raise PipelineError(f"--top must be at least 1, got {args.top}")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder} is not a folder")
    without = 0
    for path in sorted(folder.glob("*.edms")):
        try:
            classes = classlayer.classes_of(read_edms_layers(path, classlayer.is_class_layer))
        except EdmsError as exc:
            print(f"note: {path}: skipped: {exc}", file=sys.stderr)
            continue
        if classes is None:
            without += 1
            continue
        hit = next((c for c in classes[:args.top] if c.index in wanted), None)
        if hit is not None:
            print(f"{path}\t{hit.name}\t{hit.probability:.4f}")
    if without:
        print(f"note: {without} file(s) carry no classes", file=sys.stderr)
    return 0


def _describe_param(s) -> str:  # noqa: ANN001 - a ParamSpec
    """One parameter for ``edms pipelines``: ``NAME (label) range (default, sweep)``."""
    if s.choices:
        return (f"{s.name}={'|'.join(s.choices)} ({s.label}, default {s.format(s.default)}"
                f"{'' if s.rate else ', not swept'})")
    values = "/".join(map(str, s.values)) if s.values else f"{s.minimum}..{s.maximum}"
    if not s.rate:
        return f"{s.name}={values} ({s.label}, default {s.default}, not swept)"
    sweep = f", sweep {','.join(map(str, s.sweep))}" if len(s.sweep) > 1 else ""
    return f"{s.label} {values} (default {s.default}{sweep})"


def cmd_pipelines(args: argparse.Namespace) -> int:
    from app.pipelines import registry

    for name in registry.available():
        problem = registry.load_error(name)  # a plug-in that failed to load: always shown
        if problem:
            print(f"{name:<12} UNAVAILABLE: {problem}")
            continue
        specs = "; ".join(_describe_param(s) for s in registry.params(name))
        if problem is None and args.check:
            problem = registry.status(name)
        print(f"{name:<12} {registry.describe(name)}\n{'':<12} {specs}"
              + (f"\n{'':<12} UNAVAILABLE: {problem}" if problem else ""))
    refs = registry.references()
    if refs:
        print("reference networks (edms eval --task TASK --reference NAME; first: default)")
    for ref in refs:
        print(f"{ref.name:<12} {ref.task}: {ref.description}")
    return 0


def _eval_items(args: argparse.Namespace) -> list[tuple[str, str | int | None, str]]:
    """(image path, ground truth, label format) of every image ``edms eval`` measures."""
    from app.eval import find_images

    if args.task == "rd":
        images = find_images(args.images)
        if not images:
            raise FileNotFoundError("no images found in " + ", ".join(args.images))
        return [(str(p), None, "camvid") for p in images]
    from app import tasks

    if len(args.images) != 1:
        raise tasks.TaskDataError(f"--task {args.task} takes one labelled data set")
    if args.task == "segmentation":
        return [(str(i.image), str(i.label), i.label_format)
                for i in tasks.segmentation_set(args.images[0])]
    items, _ = tasks.classification_set(args.images[0])
    return [(str(i.image), int(str(i.label)), "class") for i in items]


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from app import evalrun
    from app.errors import PipelineError
    from app.eval import (
        RDPoint,
        aggregate,
        plot_accuracy,
        plot_rd,
        results_document,
        sweep_grid,
        task_accuracy,
        write_json_atomic,
    )
    from app.imageio import load_image
    from app.pipelines import registry
    from app.refcurves import read_curves

    names = [n for n in args.pipelines.split(",") if n]
    references = read_curves(args.reference_curves or [])  # bad files fail before any work
    anchor = _eval_anchor(args.anchor, names, references)
    params = _param_dict(args.param)
    overrides: dict[str, dict[str, list[int]]] = {n: {} for n in names}
    for n in names:
        registry.get(n)  # unknown names fail before any work
    # --param NAME=... applies to every listed pipeline that has NAME, and
    # --param PIPELINE:NAME=... to that pipeline only (it wins over the unscoped form)
    for scoped in (False, True):
        for key, values in params.items():
            if (":" in key) != scoped:
                continue
            only, _, pname = key.rpartition(":")
            if only and only not in names:
                raise PipelineError(f"--param {key}: {only!r} is not among -p {args.pipelines}")
            users = [n for n in ([only] if only else names)
                     if any(s.name == pname for s in registry.params(n))]
            if not users:
                raise PipelineError(f"--param {key}: none of {only or ', '.join(names)} has it")
            for n in users:
                overrides[n][pname] = values
    grids = {}
    for n in names:
        grids[n] = [registry.get(n).check_params(point)  # out-of-range values fail early
                    for point in sweep_grid(n, overrides[n], args.q)]
    items = _eval_items(args)
    for path, _, _ in items:  # refuse bad inputs before spending minutes on the good ones
        load_image(path, max_pixels=args.max_pixels)
    if args.cluster:
        from app.cluster import connect

        connect(args.cluster)  # fails in one line before any work (not installed, bad URL)
    cache = None
    if not args.no_cache:
        from app.resultcache import ResultCache, default_path

        cache = ResultCache(args.cache or default_path())
    try:
        plan = evalrun.plan(items, names, grids, args.max_pixels, args.task, cache,
                            reference=args.reference)
        if cache is not None and plan.cached:
            print(f"{len(plan.cached)} point(s) from the cache {cache.path}; "
                  f"{len(plan.tasks)} image x pipeline task(s) to run")
        if args.cluster:
            from app.cluster import run_ray

            def runner(ts):  # noqa: ANN001, ANN202
                return run_ray(ts, args.cluster, args.actors)
        else:
            def runner(ts):  # noqa: ANN001, ANN202
                return evalrun.run_local(ts, args.jobs)
        with tqdm(total=len(plan.tasks), desc="eval", unit="img×pipeline",
                  disable=args.quiet) as bar:
            raw = evalrun.execute(plan, runner, cache, bar.update)
    finally:
        if cache is not None:
            cache.close()
    ceiling = [r["task"] for r in raw if r["pipeline"] == evalrun.UNCOMPRESSED]
    fields = {f.name for f in dataclasses.fields(RDPoint)}
    points = [RDPoint(**{k: v for k, v in r.items() if k in fields})
              for r in raw if r["pipeline"] != evalrun.UNCOMPRESSED]
    order = {(Path(path).name, n): i
             for i, (path, n) in enumerate((it[0], n) for it in items for n in names)}
    points.sort(key=lambda p: (order.get((p.image, p.pipeline), 0), p.key()))
    doc = results_document(points, anchor, hull_only=args.hull, references=references)
    top = None
    if ceiling:
        acc = task_accuracy(args.task, ceiling, "analysed")
        doc["task"] = args.task
        doc["ceiling"] = {"what": "the reference network on the uncompressed images",
                          "reference": registry.reference(args.task, args.reference).name,
                          **(acc or {})}
        top = (acc or {}).get("miou" if args.task == "segmentation" else "top1")
    _print_summary(doc)
    if args.json:
        write_json_atomic(args.json, doc)
        print(f"wrote {args.json}")
    if args.json_dir:
        from app.refcurves import write_results_dir

        written = write_results_dir(args.json_dir, aggregate(points, args.hull))
        print(f"wrote {len(written)} CompressAI results file(s) to {args.json_dir}: "
              + ", ".join(p.name for p in written))
    if args.plot:
        summary = aggregate(points, args.hull)
        if args.task == "rd":
            plot_rd(summary, args.plot, title=f"{len(items)} image(s)", references=references)
        else:
            plot_accuracy(summary, args.plot, title=f"{args.task}, {len(items)} image(s)",
                          ceiling=top)
        print(f"wrote {args.plot}")
    return 0


def _eval_anchor(given: str | None, names: list[str], references: list) -> str | None:
    """The BD anchor of ``edms eval``: a listed pipeline or a reference curve's label.
    Without ``--anchor``, ``hevc`` when it is listed (else no BD table); a given name that
    is neither is an error."""
    from app.errors import PipelineError
    from app.pipelines import registry
    from app.refcurves import find

    wanted = given if given is not None else registry.default_anchor()
    if wanted in names:
        return wanted
    curve = find(references, wanted)
    if curve is not None:
        return curve.label
    if given is None:
        return None
    known = names + [c.label for c in references]
    raise PipelineError(f"--anchor {given!r} is neither a pipeline of -p nor a reference "
                        f"curve (known: {', '.join(repr(k) for k in known)})")


def _print_references(doc: dict) -> None:
    """The published curves' points (``--reference-curves``), marked as not measured."""
    for entry in doc.get("references", []):
        r = entry["results"]
        print(f"\n{entry['name']}  ({entry['description'] or 'no description'}; "
              f"from {entry['source']}): published, not measured here")
        print(f"  {'bpp':>8} {'PSNR':>7} {'MS-SSIM':>8} {'enc s':>7} {'dec s':>7}")
        for i in range(len(r["bpp"])):
            cells = []
            for key, fmt, width in (("psnr-rgb", ".2f", 7), ("ms-ssim-rgb", ".5f", 8),
                                    ("encoding_time", ".3f", 7), ("decoding_time", ".3f", 7)):
                v = r.get(key, [None] * (i + 1))[i]
                cells.append(f"{v:{width}{fmt}}" if isinstance(v, float) else f"{'—':>{width}}")
            print(f"  {r['bpp'][i]:8.4f} " + " ".join(cells))


def _print_summary(doc: dict) -> None:
    for entry in doc["pipelines"]:
        r = entry["results"]
        names = entry.get("params", [entry["param"]])
        hull = set(entry.get("hull", [])) if len(names) > 1 else set()
        print(f"\n{entry['name']}  ({entry['description']})"
              + ("  * = on the RD hull" if hull else ""))
        head = " ".join(f"{n:>6}" for n in names)
        print(f"  {head} {'bpp':>8} {'payload':>8} {'PSNR':>7} {'MS-SSIM':>8} "
              f"{'HaarPSI':>8} {'enc s':>7} {'dec s':>7}")
        for i in range(len(r["bpp"])):
            psnr = r["psnr-rgb"][i]
            psnr_s = f"{psnr:7.2f}" if isinstance(psnr, float) else f"{psnr:>7}"
            vals = " ".join(f"{r[n][i]:>6}" for n in names)
            star = "*" if i in hull else " "
            print(f"{star} {vals} {r['bpp'][i]:8.4f} {r['bpp-payload'][i]:8.4f} "
                  f"{psnr_s} {r['ms-ssim-rgb'][i]:8.5f} {r['haarpsi'][i]:8.5f} "
                  f"{r['encoding_time'][i]:7.3f} {r['decoding_time'][i]:7.3f}"
                  + _accuracy_cells(r, i))
    if "ceiling" in doc:
        c = doc["ceiling"]
        acc = (f"mIoU {c['miou']:.4f}, pixel accuracy {c['pixel_acc']:.4f}" if "miou" in c
               else f"top-1 {c.get('top1', float('nan')):.4f}, "
               f"top-5 {c.get('top5', float('nan')):.4f}")
        print(f"\nceiling ({c['what']}): {acc}")
    _print_references(doc)
    if doc.get("bd"):
        print(f"\nBD against {doc['anchor']} (PSNR-RGB, whole-file bpp; published curves: "
              "their own files' bpp)" if doc.get("references") else
              f"\nBD against {doc['anchor']} (PSNR-RGB, whole-file bpp)")
        width = max([12, *map(len, doc["bd"])])
        for name, row in doc["bd"].items():
            rate, psnr = row["bd-rate-%"], row["bd-psnr-db"]
            rate_s = f"{rate:+7.2f} %" if isinstance(rate, float) else "    n/a"
            psnr_s = f"{psnr:+6.3f} dB" if isinstance(psnr, float) else "n/a"
            ms = row.get("bd-rate-msssim-%")
            ms_s = f"{ms:+7.2f} %" if isinstance(ms, float) else "    n/a"
            acc = "   ".join(f"{k[8:-2]} {v:+7.2f} %" for k, v in row.items()
                               if k.startswith("bd-rate-")
                               and k not in ("bd-rate-%", "bd-rate-msssim-%")
                               and isinstance(v, float))
            print(f"  {name:<{width}} BD-rate {rate_s}   BD-PSNR {psnr_s}   "
                  f"BD-rate (MS-SSIM) {ms_s}" + (f"   at equal {acc}" if acc else ""))


def _accuracy_cells(r: dict, i: int) -> str:
    """The machine-accuracy columns of a results row (``--task``), or nothing."""
    cells = []
    for key in ("miou", "miou-carried", "top1", "top1-carried", "top5"):
        v = r.get(key, [None] * (i + 1))[i]
        if isinstance(v, float):
            cells.append(f"{key} {v:.4f}")
    return ("  " + "  ".join(cells)) if cells else ""


def cmd_compare(args: argparse.Namespace) -> int:
    from app.compare import compose, pick
    from app.errors import PipelineError
    from app.imageio import save_image_atomic
    from app.pipelines import registry

    if not args.bpp > 0:
        raise PipelineError(f"--bpp must be positive, got {args.bpp}")
    names = [n for n in args.pipelines.split(",") if n]
    if not names:
        raise PipelineError("no pipelines given (-p NAME,NAME,...)")
    for n in names:
        registry.get(n)  # unknown names fail before any work
    params = _param_dict(args.param)
    overrides: dict[str, dict[str, list[int]]] = {n: {} for n in names}
    for key, values in params.items():
        only, _, pname = key.rpartition(":")
        users = [n for n in ([only] if only else names)
                 if n in names and any(s.name == pname for s in registry.params(n)[1:])]
        if not users:
            raise PipelineError(f"--param {key}: no listed pipeline has it as a second or "
                                "later parameter (the first one is searched)")
        for n in users:
            overrides[n][pname] = values
            for v in values:
                registry.get(n).check_params({pname: v})
    image = _load(args.image, args.max_pixels)
    picks = []
    for n in names:
        p = pick(image, n, args.bpp, overrides[n])
        setting = " ".join(f"{k}={v}" for k, v in p.params.items())
        print(f"{n:<10} {setting:<18} {p.bpp:.4f} bpp  PSNR {p.psnr:.2f} dB  "
              f"MS-SSIM {p.ms_ssim:.4f}  HaarPSI {p.haarpsi:.4f}")
        picks.append(p)
    save_image_atomic(args.output, compose(image, picks, args.columns))
    print(f"wrote {args.output}")
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    import numpy as np

    from app.classes import CAMVID_CLASSES, colorize
    from app.errors import EdmsError
    from app.imageio import save_image_atomic
    from app.pipelines import registry

    if (args.image is None) == (args.from_file is None):
        raise EdmsError("segment: give an image to segment, or --from FILE.edms for the "
                        "class map the file carries (not both)")
    t0 = time.perf_counter()
    if args.from_file is not None:
        labels, what = _carried_map(args.from_file)
    else:
        image = _load(args.image, args.max_pixels)
        ref = registry.reference("segmentation")
        labels = np.ascontiguousarray(ref.analyser(args.config)(image), dtype=np.uint8)
        what = f"segmented by {ref.label}"
    seconds = time.perf_counter() - t0
    h, w = labels.shape
    save_image_atomic(args.output, labels)
    if args.color:
        save_image_atomic(args.color, colorize(labels))
    counts = np.bincount(labels.ravel(), minlength=len(CAMVID_CLASSES))
    share = ", ".join(f"{CAMVID_CLASSES[i]} {100 * c / labels.size:.1f} %"
                      for i, c in enumerate(counts[: len(CAMVID_CLASSES)]) if c)
    print(f"{args.output}: {w}x{h} class map, {what}, in {seconds:.2f} s ({share})")
    return 0


def _carried_map(path: str) -> tuple[Any, str]:
    """The class map an ``.edms`` file carries (decoded and verified like ``edms decode``):
    its pipeline's ``segmentation`` view (a decoded map layer, a semantic decoder's output,
    a decoder-side map). An error for a file whose pipeline carries none."""
    import numpy as np

    from app import api, tasks
    from app.errors import EdmsError

    dec = api.decode(path)
    arrays = {k: v.array for k, v in dec.views.items()}
    labels = tasks.carried("segmentation", arrays)
    if labels is None:
        raise EdmsError(f"{path}: a {dec.encoded.pipeline} file carries no segmentation "
                        "(segment its decoded image instead: edms decode, then edms segment)")
    params = " ".join(f"{k}={v}" for k, v in dec.encoded.params.items())
    return np.ascontiguousarray(labels, dtype=np.uint8), (
        f"carried by the {dec.encoded.pipeline} {params} bitstream")


def cmd_train(args: argparse.Namespace, rest: list[str]) -> int:
    from app.train import train_main

    return train_main(rest)


def build_parser() -> argparse.ArgumentParser:
    from app.refcurves import published_names

    parser = argparse.ArgumentParser(
        prog="edms", description="EDMS Workbench: semantic, layered image compression."
    )
    parser.add_argument("--max-pixels", type=int, default=64_000_000,
                        help="refuse larger images (default 64 MP)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("encode", help="encode an image to .edms")
    p.add_argument("image")
    p.add_argument("-p", "--pipeline", required=True)
    p.add_argument("-q", type=int, default=None,
                   help="the pipeline's first rate parameter (QP, native quality, ...)")
    p.add_argument("--param", action="append", type=_param_arg, metavar="NAME=V",
                   help="set another rate parameter, e.g. --param factor=8")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--recon", help="also save the encoder's reconstruction (PNG)")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decode an .edms file to an image")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="show the header and layers of an .edms file")
    p.add_argument("input")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("search", help="list the .edms files of a folder by the classes "
                       "they store, without decoding them")
    p.add_argument("folder")
    p.add_argument("--class", dest="cls", required=True,
                   help="class name (or part of it, e.g. church) or index")
    p.add_argument("--top", type=int, default=1,
                   help="match within the top K stored classes (default 1)")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("pipelines", help="list the registered pipelines")
    p.add_argument("--check", action="store_true", help="load each one and report problems")
    p.set_defaults(func=cmd_pipelines)

    p = sub.add_parser("eval", help="rate-distortion evaluation over images")
    p.add_argument("images", nargs="+", help="image files or directories")
    p.add_argument("-p", "--pipelines", required=True, help="comma-separated names")
    p.add_argument("-q", type=_ints, default=None,
                   help="comma-separated QPs/qualities (default: each pipeline's sweep)")
    p.add_argument("--json", help="write every result here: per pipeline and per image, "
                   "BD table, reference curves (one document)")
    p.add_argument("--json-dir", metavar="DIR",
                   help="write one CompressAI results file per pipeline into DIR "
                   "(DIR/PIPELINE.json: name, description, results with bpp, psnr-rgb, "
                   "ms-ssim-rgb, haarpsi, encoding_time, decoding_time, ...), which "
                   "CompressAI's plot utility and --reference-curves read")
    p.add_argument("--plot", help="write an RD plot here (png/pdf/svg)")
    shipped = ", ".join(published_names()) or "none"
    p.add_argument("--reference-curves", nargs="+", action="extend", default=None,
                   metavar="FILE.json", help="published curves to show beside the measured "
                   "ones, marked '(published)': CompressAI results files, or "
                   "published:SET/NAME for a shipped one "
                   f"({shipped}); they appear in the tables, the BD table (as rows, or as "
                   "--anchor by name) and the plot. Give them after the images, or end the "
                   "list with --")
    p.add_argument("--param", action="append", type=_param_arg, metavar="NAME=V1,V2,...",
                   help="sweep these values of parameter NAME (repeatable; the sweep is the "
                   "product over parameters), e.g. --param factor=4,8 --param qp=27,32,37; "
                   "PIPELINE:NAME=... sets it for one pipeline, e.g. --param PIPELINE:qp=22,32")
    p.add_argument("--hull", action="store_true",
                   help="report and plot only each pipeline's RD hull (frontier in bpp/PSNR)")
    p.add_argument("--anchor", default=None,
                   help="BD-rate anchor: a pipeline of -p, or a reference curve by name, "
                   "e.g. VTM or bpg_444_x265_ycbcr (default: the pipeline whose spec names "
                   "it the anchor, hevc, when listed)")
    p.add_argument("--task", choices=("rd", "segmentation", "classification"), default="rd",
                   help="also measure machine accuracy: DATA is a labelled set (CamVid "
                   "X/ + Xannot/, Cityscapes, a file list; or class folders)")
    p.add_argument("--reference", default="",
                   help="the network run on decoded images for --task (the 'analysed' "
                   "accuracy): one of the task's reference networks that `edms pipelines` "
                   "lists (default: its first)")
    p.add_argument("--cache", default=None,
                   help="result cache file (default: results.sqlite in the user cache "
                   "directory); reruns compute only what is missing")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--cluster", default=None, metavar="ray|ray://HOST:PORT",
                   help="run on Ray: a local instance, or an existing cluster")
    p.add_argument("--actors", type=int, default=0,
                   help="Ray actors per pipeline (default: the cluster's CPUs shared)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="side-by-side image of pipelines at a target bpp")
    p.add_argument("image")
    p.add_argument("--bpp", type=float, required=True, help="target bits per pixel")
    p.add_argument("-p", "--pipelines", required=True, help="comma-separated names")
    p.add_argument("-o", "--output", required=True, help="output image (.png)")
    p.add_argument("--columns", type=int, default=3, help="panels per row (default 3)")
    p.add_argument("--param", action="append", type=_param_arg, metavar="[PIPELINE:]NAME=V,...",
                   help="values of a second parameter to search over (default: its sweep), "
                   "e.g. --param PIPELINE:factor=4,8,16")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("segment", help="semantic segmentation (CamVid classes) of an image, "
                       "or the class map an .edms file carries")
    p.add_argument("image", nargs="?",
                   help="image to segment with the segmentation task's reference network")
    p.add_argument("--from", dest="from_file", metavar="FILE.edms",
                   help="write the class map this file's bitstream carries instead "
                   "(a pipeline whose decoder outputs a segmentation)")
    p.add_argument("-o", "--output", required=True, help="class-index PNG (CamVid order)")
    p.add_argument("--color", help="also write a coloured view")
    p.add_argument("--config", default="lite", choices=["lite", "paper"])
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("train", help="train networks (see `edms train -h`)", add_help=False)
    p.set_defaults(func=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return _guarded(lambda: cmd_train(argparse.Namespace(), argv[1:]), argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    return _guarded(lambda: args.func(args), argv)


def internal_error_message(argv: list[str]) -> str:
    """The one sentence shown for an unexpected exception: it is a bug, and how to report
    it (the command, rerun with EDMS_DEBUG=1 for the traceback); the exception's own text
    (often a library's internals) is left to that traceback."""
    import shlex

    command = shlex.join(["edms", *argv])
    return (f"internal error (a bug in edms, not a problem with your input): please report "
            f"it with the command `{command}` and the traceback that "
            f"`EDMS_DEBUG=1 {command}` prints")


def _guarded(fn, argv: list[str]) -> int:  # noqa: ANN001
    from app.errors import Cancelled, EdmsError

    debug = bool(os.environ.get("EDMS_DEBUG"))
    try:
        return int(fn() or 0)
    except (KeyboardInterrupt, Cancelled):
        _print_err("interrupted")
        return 130
    except EdmsError as exc:
        if debug:
            raise
        _print_err(str(exc))
        return EXIT_USER
    except FileNotFoundError as exc:
        if debug:
            raise
        _print_err(f"no such file: {exc.filename or exc}")
        return EXIT_USER
    except OSError as exc:
        if debug:
            raise
        _print_err(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        return EXIT_USER
    except Exception:  # last line of defence: one line, no traceback
        if debug:  # the exception's own text is in this traceback, not in the line below
            raise
        _print_err(internal_error_message(argv))
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
