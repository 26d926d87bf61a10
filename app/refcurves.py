"""CompressAI-format results files: published curves read in, our curves written out.

A results file (the format of CompressAI's ``results/`` folder and of its plot utility) is
one JSON object per codec::

    {"name": "VTM", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

one list entry per operating point, each the mean over a data set's images.

:func:`read_curve` reads such a file as a :class:`ReferenceCurve`: a curve shown beside
measured ones (``edms eval --reference-curves``, the workbench's Add Reference Curve…) and
always marked "published", since this program did not measure it. ``published:SET/NAME``
names one of the files shipped under ``resources/reference-curves/`` (see
:func:`published_names`). Every problem with a file is a :class:`ReferenceCurveError`, one
line naming the file.

:func:`compressai_document` and :func:`write_results_dir` turn a summary of measured
points (:func:`app.eval.aggregate`) into files of that schema (``edms eval --json-dir``,
the workbench's JSON export), one per pipeline.

A leaf module: numpy, json and :mod:`app.errors` / :mod:`app.atomic` / :mod:`app.shipped`
only, so the GUI uses it without torch.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import EdmsError

#: prefix of a shipped curve's short name: ``published:kodak/bpg_444_x265_ycbcr``
PUBLISHED = "published:"
#: where the shipped curves are, relative to the shipped files' root
REFERENCE_DIR = ("resources", "reference-curves")
#: the suffix every label of a reference curve carries (plot, tables, anchor menu)
MARK = " (published)"
#: metrics read from a results file (others are ignored), with accepted aliases
METRICS = ("psnr-rgb", "ms-ssim-rgb", "haarpsi", "encoding_time", "decoding_time")
ALIASES = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}
#: larger files are refused before they are read
MAX_BYTES = 16 * 1024 * 1024


class ReferenceCurveError(EdmsError):
    """A reference curve cannot be read (missing, not JSON, not CompressAI's schema)."""


@dataclass(frozen=True)
class ReferenceCurve:
    """One published (not measured here) rate-quality curve, sorted by rising bpp.

    ``results`` holds ``bpp`` and the metrics the file has (:data:`METRICS`), lists of
    equal length of finite floats; ``source`` is what the user named (a path or
    ``published:SET/NAME``).
    """

    name: str
    description: str
    source: str
    results: dict[str, list[float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The name shown everywhere: ``"VTM (published)"``."""
        return self.name + MARK

    @property
    def stem(self) -> str:
        """The file's name without folder and suffix (``vtm``)."""
        return Path(self.source.removeprefix(PUBLISHED)).stem

    def matches(self, text: str) -> bool:
        """Whether ``text`` names this curve (as ``--anchor`` may): its label, its name,
        its file's stem or the source as given; names are compared case-insensitively."""
        t = text.strip()
        low = t.lower()
        return (low in (self.label.lower(), self.name.lower(), self.stem.lower())
                or t == self.source or t == self.source.removesuffix(".json"))

    def summary_entry(self) -> dict[str, Any]:
        """The curve as an entry of :func:`app.eval.aggregate`'s summary, for the BD table
        and the plot: no rate parameter, every point on its hull, ``published`` set."""
        n = len(self.results["bpp"])
        return {"name": self.label, "description": self.description, "published": True,
                "source": self.source, "param": None, "params": [],
                "results": {k: list(v) for k, v in self.results.items()},
                "hull": list(range(n))}


# ----------------------------------------------------------------------------- reading


def published_root() -> Path:
    """The folder of the shipped curves (one sub-folder per data set)."""
    from app.shipped import shipped_path

    return shipped_path(*REFERENCE_DIR)


def published_names() -> list[str]:
    """Short names of the shipped curves, e.g. ``kodak/vtm`` (``published:`` + one of them
    names it)."""
    root = published_root()
    if not root.is_dir():
        return []
    return sorted(p.relative_to(root).with_suffix("").as_posix()
                  for p in root.rglob("*.json") if p.is_file())


_SHORT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def resolve(source: str) -> Path:
    """The file a source names: a path, or ``published:SET/NAME`` (``.json`` optional)."""
    if not source.startswith(PUBLISHED):
        return Path(source)
    short = source[len(PUBLISHED):].strip().removesuffix(".json")
    known = published_names()
    if _SHORT.match(short) and ".." not in short.split("/") and short in known:
        return published_root().joinpath(*short.split("/")).with_suffix(".json")
    raise ReferenceCurveError(f"unknown published curve {short!r}; shipped: "
                              + (", ".join(known) or "none"))


def read_curve(source: str | os.PathLike[str]) -> ReferenceCurve:
    """Read one results file (a path or ``published:SET/NAME``); one-line
    :class:`ReferenceCurveError` for anything that is not a usable curve."""
    src = os.fspath(source)
    path = resolve(src)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ReferenceCurveError(f"{src}: larger than {MAX_BYTES >> 20} MiB, not a "
                                      "results file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceCurveError(f"{src}: no such file") from None
    except IsADirectoryError:
        raise ReferenceCurveError(f"{src}: is a folder, not a results file") from None
    except UnicodeDecodeError:
        raise ReferenceCurveError(f"{src}: not a text (JSON) file") from None
    except OSError as exc:
        raise ReferenceCurveError(f"{src}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferenceCurveError(f"{src}: not valid JSON (line {exc.lineno}, column "
                                  f"{exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise ReferenceCurveError(f"{src}: not valid JSON (nested too deeply)") from None
    return parse_curve(data, src, default_name=Path(src.removeprefix(PUBLISHED)).stem)


def parse_curve(data: Any, source: str, default_name: str = "") -> ReferenceCurve:
    """A :class:`ReferenceCurve` from a parsed results document (see :func:`read_curve`).

    Tolerant where CompressAI's own plot utility is: ``results`` may be missing (the
    metrics at the top level), ``psnr`` and ``ms-ssim`` stand for ``psnr-rgb`` and
    ``ms-ssim-rgb``, ``name`` defaults to the file's stem, unknown keys are ignored. Strict
    where a wrong curve would follow: ``bpp`` and PSNR-RGB or MS-SSIM-RGB must be present,
    every used list the same length, every value a finite number, bpp positive and
    MS-SSIM within [0, 1].
    """
    def fail(msg: str) -> ReferenceCurveError:
        return ReferenceCurveError(f"{source}: {msg}")

    if not isinstance(data, dict):
        raise fail("not a CompressAI results file (expected a JSON object with "
                   "\"name\" and \"results\")")
    results = data.get("results", data)
    if not isinstance(results, dict):
        raise fail("\"results\" is not an object of metric lists")
    name = data.get("name", default_name or source)
    if not isinstance(name, str) or not name.strip():
        raise fail("\"name\" is not a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        description = str(description)
    if "bpp" not in results:
        raise fail("no \"bpp\" list in \"results\"")
    out: dict[str, list[float]] = {"bpp": _numbers(results["bpp"], "bpp", fail)}
    n = len(out["bpp"])
    if n == 0:
        raise fail("\"bpp\" is empty: the curve has no points")
    keys = [(k, k) for k in METRICS] + [(alias, k) for alias, k in ALIASES.items()]
    for key, metric in keys:
        if key not in results or metric in out:
            continue
        values = _numbers(results[key], key, fail)
        if len(values) != n:
            raise fail(f"\"{key}\" has {len(values)} values but \"bpp\" has {n}")
        out[metric] = values
    if "psnr-rgb" not in out and "ms-ssim-rgb" not in out:
        raise fail("no quality to plot: \"results\" has neither \"psnr-rgb\" (or \"psnr\") "
                   "nor \"ms-ssim-rgb\" (or \"ms-ssim\")")
    if any(b <= 0 for b in out["bpp"]):
        raise fail("\"bpp\" has a value <= 0")
    if any(not 0 <= m <= 1 for m in out.get("ms-ssim-rgb", [])):
        raise fail("\"ms-ssim-rgb\" has a value outside [0, 1] (the files hold MS-SSIM "
                   "itself, not dB)")
    order = sorted(range(n), key=lambda i: out["bpp"][i])
    return ReferenceCurve(name.strip(), description, source,
                          {k: [v[i] for i in order] for k, v in out.items()})


def _numbers(values: Any, key: str, fail: Any) -> list[float]:
    """A list of finite numbers (booleans and strings such as "inf" refused)."""
    if not isinstance(values, list):
        raise fail(f"\"{key}\" is not a list")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise fail(f"\"{key}\"[{i}] is {json.dumps(v)[:40]}, not a number")
        if not math.isfinite(v):
            raise fail(f"\"{key}\"[{i}] is {v}, not a finite number")
        out.append(float(v))
    return out


def read_curves(sources: Iterable[str | os.PathLike[str]]) -> list[ReferenceCurve]:
    """Read several curves; the same source twice is read once, and two curves with the
    same name are told apart by their file's stem (``"HEVC [mine]"``)."""
    curves: list[ReferenceCurve] = []
    seen: set[str] = set()
    for source in sources:
        curve = read_curve(source)
        if curve.source in seen:
            continue
        seen.add(curve.source)
        curves.append(unique(curve, curves))
    return curves


def unique(curve: ReferenceCurve, others: Sequence[ReferenceCurve],
           taken: Iterable[str] = ()) -> ReferenceCurve:
    """``curve``, renamed ``"NAME [stem]"`` (then ``"NAME [stem] 2"``, ...) if its label is
    already used by one of ``others`` or is in ``taken``."""
    used = {c.label for c in others} | set(taken)
    if curve.label not in used:
        return curve
    base = f"{curve.name} [{curve.stem}]"
    name, k = base, 2
    while name + MARK in used:
        name, k = f"{base} {k}", k + 1
    return ReferenceCurve(name, curve.description, curve.source, curve.results)


def find(curves: Sequence[ReferenceCurve], text: str) -> ReferenceCurve | None:
    """The curve ``text`` names (:meth:`ReferenceCurve.matches`), or None."""
    return next((c for c in curves if c.matches(text)), None)


def summary_entries(curves: Sequence[ReferenceCurve]) -> dict[str, dict[str, Any]]:
    """``{label: entry}`` of the curves, to merge into a summary of measured pipelines."""
    return {c.label: c.summary_entry() for c in curves}


# ----------------------------------------------------------------------------- writing

#: summary keys written to a results file, in this order, when every value is finite
WRITTEN = ("bpp", "psnr-rgb", "ms-ssim-rgb", "haarpsi", "encoding_time", "decoding_time",
           "bpp-payload", "miou", "miou-carried", "pixel-acc", "pixel-acc-carried", "top1",
           "top1-carried", "top5", "top5-carried")


def compressai_document(entry: Mapping[str, Any], tool: str = "EDMS Workbench"
                        ) -> dict[str, Any]:
    """One pipeline's summary entry (:func:`app.eval.aggregate`) in CompressAI's schema.

    ``results`` holds ``bpp`` (whole ``.edms`` file), ``psnr-rgb``, ``ms-ssim-rgb``,
    ``haarpsi``, ``encoding_time`` and ``decoding_time`` (seconds per image), ``bpp-payload``,
    the accuracies of ``--task`` where every point has one, and the rate parameters' values:
    lists of equal length, one entry per operating point (the mean over images), by rising
    bpp. A pipeline with several rate parameters is written as its RD hull (the points a
    rate controller would use; the whole grid is in ``edms eval --json``). Points with a
    non-finite value (a lossless point's infinite PSNR) are left out, since the format has
    no way to write them; the description says how many.
    """
    res = entry["results"]
    n = len(res["bpp"])
    params = [p for p in entry.get("params", [entry.get("param")]) if p]
    idx = list(entry.get("hull", range(n))) if len(params) > 1 else list(range(n))
    idx.sort(key=lambda i: res["bpp"][i])
    core = [k for k in ("bpp", "psnr-rgb", "ms-ssim-rgb") if k in res]
    keep = [i for i in idx if all(_finite(res[k][i]) for k in core)]
    results: dict[str, list] = {}
    for key in WRITTEN:
        values = res.get(key)
        if values is None or len(values) != n:
            continue
        if all(_finite(values[i]) for i in keep):
            results[key] = [float(values[i]) for i in keep]
    for p in params:
        if p in res and len(res[p]) == n and all(isinstance(res[p][i], int) for i in keep):
            results[p] = [res[p][i] for i in keep]
    images = res.get("images")
    counts = sorted({images[i] for i in keep}) if images and len(images) == n else []
    what = (f"mean of {counts[0]} image{'s' if counts[0] != 1 else ''} per point"
            if len(counts) == 1 else "mean over images per point")
    parts = [entry.get("description") or entry["name"],
             f"{tool}, {what}, bpp of the whole .edms file"]
    if len(params) > 1:
        parts.append(f"RD hull over {' x '.join(params)}")
    if len(keep) < len(idx):
        parts.append(f"{len(idx) - len(keep)} point(s) with infinite PSNR (lossless) left out")
    return {"name": entry["name"], "description": "; ".join(parts), "results": results}


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def file_name(name: str) -> str:
    """A pipeline's results file name: ``hevc-pf.json`` (characters outside
    ``[A-Za-z0-9_.-]`` become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "pipeline"
    return safe + ".json"


def write_results_dir(folder: str | os.PathLike[str], summary: Mapping[str, Mapping[str, Any]]
                      ) -> list[Path]:
    """Write one CompressAI results file per pipeline of ``summary`` into ``folder``
    (created if missing), each atomically; published entries are skipped. Returns the
    paths written."""
    from app.atomic import write_bytes_atomic

    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise ReferenceCurveError(f"{target}: exists and is not a folder")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in summary.values():
        if entry.get("published"):
            continue
        path = target / file_name(str(entry["name"]))
        doc = compressai_document(entry)
        write_bytes_atomic(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
        written.append(path)
    return written
