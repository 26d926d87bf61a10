"""CompressAI-format results files: published curves in (``--reference-curves``), our
curves out (``--json-dir``), held to the schema CompressAI's plot utility reads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.eval import RDPoint, aggregate, bd_table, results_document, with_references
from app.refcurves import (
    MARK,
    ReferenceCurveError,
    compressai_document,
    published_names,
    published_root,
    read_curve,
    read_curves,
    write_results_dir,
)
from tests.images import write_noisy_photo

SHIPPED = ("kodak/bpg_444_x265_ycbcr", "kodak/vtm", "kodak/hm", "kodak/jpeg", "kodak/jpeg2000",
           "kodak/webp", "kodak/av1", "kodak/bmshj2018-hyperprior", "kodak/cheng2020-anchor")


def compressai_plot_read(path: Path, metric: str = "psnr") -> dict:
    """What CompressAI's plot utility takes from a results file, read the way it reads it:
    ``name`` (else the file's stem) and the top-level ``results`` dict (else the document),
    ``results["bpp"]`` and ``results[metric]`` (``psnr``/``ms-ssim`` mean the ``-rgb`` ones;
    MS-SSIM turned into dB). Strict JSON: NaN or Infinity would fail here."""
    def no_constants(text: str) -> float:
        raise ValueError(f"non-standard JSON constant {text}")

    data = json.loads(path.read_text(), parse_constant=no_constants)
    results = data.get("results", data)
    if metric in ("psnr", "ms-ssim"):
        metric = f"{metric}-rgb"
    if metric not in results:
        raise ValueError(f"metric {metric} not available")
    ys = np.asarray(results[metric], dtype=np.float64)
    if "ms-ssim" in metric:
        ys = -10 * np.log10(1 - ys)
    return {"name": data.get("name", path.stem),
            "xs": np.asarray(results["bpp"], dtype=np.float64), "ys": ys}


def _point(pipeline: str, image: str, q: int, bpp: float, psnr: float,
           params: dict[str, int] | None = None) -> RDPoint:
    ms = 1 - 10 ** (-(psnr - 12) / 10) if math.isfinite(psnr) else 1.0
    return RDPoint(image=image, pipeline=pipeline, param="qp", value=q, width=64, height=48,
                   file_bytes=int(bpp * 64 * 48 / 8), payload_bytes=int(bpp * 64 * 48 / 8) - 20,
                   bpp=bpp, bpp_payload=bpp - 0.05, psnr_rgb=psnr, ms_ssim_rgb=ms,
                   haarpsi=min(0.99, psnr / 50), encode_s=0.01 * q, decode_s=0.002, layers={},
                   params=params or {"qp": q})


def _points() -> list[RDPoint]:
    """Two images, two pipelines (hevc better than jpeg), five rates each."""
    pts = []
    for image, shift in (("a.png", 0.0), ("b.png", 1.5)):
        for i, q in enumerate((22, 27, 32, 37, 42)):
            bpp = 2.0 * 0.55 ** i
            pts.append(_point("hevc", image, q, bpp, 40 - 3.2 * i - shift))
            pts.append(_point("jpeg", image, q, bpp * 1.4, 39 - 3.4 * i - shift))
    return pts


def _write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


GOOD = {"name": "Mine", "description": "my codec",
        "results": {"bpp": [0.5, 0.1, 0.25, 1.0], "psnr": [34, 27, 30.5, 38],
                    "ms-ssim-rgb": [0.97, 0.88, 0.94, 0.99], "encoding_time": [1, 1, 1, 1],
                    "other": "ignored"}}


# ----------------------------------------------------------------------------- reading


def test_reader_accepts_compressai_files_and_is_tolerant(tmp_path) -> None:
    curve = read_curve(_write(tmp_path / "mine.json", GOOD))
    assert curve.name == "Mine" and curve.label == "Mine" + MARK
    assert curve.description == "my codec"
    # psnr is PSNR-RGB; the points come sorted by bpp, every list along
    assert curve.results["bpp"] == [0.1, 0.25, 0.5, 1.0]
    assert curve.results["psnr-rgb"] == [27, 30.5, 34, 38]
    assert curve.results["ms-ssim-rgb"] == [0.88, 0.94, 0.97, 0.99]
    assert set(curve.results) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time"}
    # no name: the file's stem; no "results": the metrics at the top level (as CompressAI)
    bare = read_curve(_write(tmp_path / "bare.json", {"bpp": [0.1, 0.2], "psnr-rgb": [28, 30]}))
    assert bare.name == "bare" and bare.description == ""
    assert curve.matches("mine") and curve.matches("Mine (published)")
    assert curve.matches(str(tmp_path / "mine.json")) and not curve.matches("other")


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON (line 1"),
    ("[1, 2]", "not a CompressAI results file"),
    ({"name": "x", "results": [1, 2]}, "\"results\" is not an object"),
    ({"name": "x", "results": {"psnr-rgb": [30]}}, "no \"bpp\""),
    ({"name": "x", "results": {"bpp": [], "psnr-rgb": []}}, "no points"),
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}},
     "\"psnr-rgb\" has 1 values but \"bpp\" has 2"),
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "ms-ssim-rgb": [0.9, 0.95, 0.97]}},
     "has 3 values"),
    ('{"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, NaN]}}',
     "\"psnr-rgb\"[1] is nan, not a finite number"),
    ('{"name": "x", "results": {"bpp": [0.1, Infinity], "psnr-rgb": [30, 31]}}',
     "\"bpp\"[1] is inf"),
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, "inf"]}},
     "\"psnr-rgb\"[1] is \"inf\", not a number"),
    ({"name": "x", "results": {"bpp": [0.1, True], "psnr-rgb": [30, 31]}}, "not a number"),
    ({"name": "x", "results": {"bpp": "0.1", "psnr-rgb": [30]}}, "\"bpp\" is not a list"),
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "encoding_time": [1, 2]}},
     "neither \"psnr-rgb\""),
    ({"name": "x", "results": {"bpp": [0.0, 0.2], "psnr-rgb": [30, 31]}}, "<= 0"),
    ({"name": "x", "results": {"bpp": [0.1, 0.2], "ms-ssim-rgb": [9.5, 12.0]}},
     "outside [0, 1]"),
    ({"name": "", "results": {"bpp": [0.1], "psnr-rgb": [30]}}, "\"name\" is not"),
])
def test_reader_refuses_bad_files_in_one_line(tmp_path, doc, message) -> None:
    path = _write(tmp_path / "bad.json", doc)
    with pytest.raises(ReferenceCurveError) as err:
        read_curve(path)
    text = str(err.value)
    assert message in text and text.startswith(str(path)) and "\n" not in text


def test_reader_refuses_missing_folders_binaries_and_unknown_published_names(tmp_path) -> None:
    with pytest.raises(ReferenceCurveError, match="no such file"):
        read_curve(tmp_path / "absent.json")
    with pytest.raises(ReferenceCurveError, match="is a folder"):
        read_curve(tmp_path)
    binary = tmp_path / "x.json"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(ReferenceCurveError, match="not a text"):
        read_curve(binary)
    for name in ("published:kodak/nope", "published:../../pyproject", "published:"):
        with pytest.raises(ReferenceCurveError, match="unknown published curve.*kodak/vtm"):
            read_curve(name)


def test_shipped_published_curves_all_read() -> None:
    assert set(SHIPPED) <= set(published_names())
    for short in published_names():
        curve = read_curve("published:" + short)
        assert {"bpp", "psnr-rgb"} <= set(curve.results), short
        assert curve.source == "published:" + short
    assert read_curve("published:kodak/vtm.json").name == "VTM"
    assert read_curve("published:kodak/bpg_444_x265_ycbcr").matches("bpg_444_x265_ycbcr")
    notice = " ".join((published_root() / "kodak" / "README.md").read_text().split())
    assert "BSD 3-Clause Clear" in notice and "InterDigital Communications" in notice


def test_same_names_are_told_apart_and_the_same_file_is_read_once(tmp_path) -> None:
    a = _write(tmp_path / "a.json", GOOD)
    b = _write(tmp_path / "b.json", GOOD)
    curves = read_curves([a, b, a])
    assert [c.label for c in curves] == ["Mine (published)", "Mine [b] (published)"]


# ----------------------------------------------------------------------------- BD


def test_bd_against_a_reference_equals_bd_against_the_same_numbers_measured(tmp_path) -> None:
    summary = aggregate(_points())
    measured = bd_table(summary, "hevc")
    # hevc's mean curve, written as a results file and read back as a published curve
    doc = compressai_document(summary["hevc"])
    doc["name"] = "HEVC elsewhere"
    ref = read_curve(_write(tmp_path / "hevc-published.json", doc))
    merged = with_references(summary, [ref])
    as_anchor = bd_table(merged, ref.label)
    for key in ("bd-rate-%", "bd-psnr-db", "bd-rate-msssim-%"):
        assert measured["jpeg"][key] is not None
        assert as_anchor["jpeg"][key] == pytest.approx(measured["jpeg"][key], abs=1e-9)
        assert as_anchor["hevc"][key] == pytest.approx(0.0, abs=1e-9)
    # as a row against a measured anchor: what hevc itself gets
    against_jpeg = bd_table(merged, "jpeg")
    for key in ("bd-rate-%", "bd-psnr-db", "bd-rate-msssim-%"):
        assert against_jpeg[ref.label][key] == pytest.approx(bd_table(summary, "jpeg")["hevc"][key],
                                                            abs=1e-9)
    # the document lists it apart, marked, and BD rows keep the "(published)" label
    out = results_document(_points(), ref.label, references=[ref])
    assert [e["name"] for e in out["pipelines"]] == ["hevc", "jpeg"]
    assert out["references"][0]["published"] is True
    assert out["references"][0]["name"] == "HEVC elsewhere (published)"
    assert out["anchor"] == ref.label and set(out["bd"]) == {"hevc", "jpeg", ref.label}


def test_bd_with_a_curve_lacking_ms_ssim_gives_none_there(tmp_path) -> None:
    summary = aggregate(_points())
    hevc = summary["hevc"]["results"]
    ref = read_curve(_write(tmp_path / "p.json", {"name": "P", "results": {
        "bpp": hevc["bpp"], "psnr-rgb": [p - 0.5 for p in hevc["psnr-rgb"]]}}))
    row = bd_table(with_references(summary, [ref]), "hevc")[ref.label]
    assert row["bd-rate-%"] > 0 and row["bd-rate-msssim-%"] is None


# ----------------------------------------------------------------------------- writing


def _assert_compressai_schema(path: Path) -> dict:
    doc = json.loads(path.read_text())
    assert set(doc) == {"name", "description", "results"}
    assert isinstance(doc["name"], str) and isinstance(doc["description"], str)
    results = doc["results"]
    assert {"bpp", "psnr-rgb", "ms-ssim-rgb", "haarpsi", "encoding_time",
            "decoding_time"} <= set(results)
    lengths = {len(v) for v in results.values()}
    assert len(lengths) == 1 and lengths.pop() > 0
    for values in results.values():
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)
    assert results["bpp"] == sorted(results["bpp"])
    for metric in ("psnr", "ms-ssim", "haarpsi", "encoding_time", "decoding_time"):
        got = compressai_plot_read(path, metric)
        assert got["name"] == doc["name"] and len(got["xs"]) == len(got["ys"])
        assert np.isfinite(got["ys"]).all()
    return doc


def test_results_files_hold_compressai_schema(tmp_path) -> None:
    pts = _points()
    pts.append(_point("jpeg", "a.png", 100, 9.0, math.inf))  # lossless: left out
    pts.append(_point("jpeg", "b.png", 100, 9.5, math.inf))
    # a two-parameter pipeline is written as its RD hull
    for f in (4, 8):
        for i, q in enumerate((27, 32, 37, 42)):
            pts.append(_point("smic", "a.png", q, 1.5 * 0.6 ** i / (f / 4), 36 - 3 * i - f / 4,
                              {"qp": q, "factor": f}))
    summary = aggregate(pts)
    written = write_results_dir(tmp_path / "out" / "deeper", summary)
    assert sorted(p.name for p in written) == ["hevc.json", "jpeg.json", "smic.json"]
    hevc = _assert_compressai_schema(tmp_path / "out" / "deeper" / "hevc.json")
    assert hevc["name"] == "hevc" and "mean of 2 images per point" in hevc["description"]
    assert hevc["results"]["psnr-rgb"] == pytest.approx(
        summary["hevc"]["results"]["psnr-rgb"], abs=1e-12)
    assert hevc["results"]["qp"] == [42, 37, 32, 27, 22]
    jpeg = _assert_compressai_schema(tmp_path / "out" / "deeper" / "jpeg.json")
    assert len(jpeg["results"]["bpp"]) == 5 and "infinite PSNR" in jpeg["description"]
    smic = _assert_compressai_schema(tmp_path / "out" / "deeper" / "smic.json")
    hull = summary["smic"]["hull"]
    assert len(smic["results"]["bpp"]) == len(hull) < 8 and "RD hull" in smic["description"]
    # our files are reference curves too
    assert read_curve(tmp_path / "out" / "deeper" / "hevc.json").results["bpp"] == \
        hevc["results"]["bpp"]
    # no temporary files left
    assert sorted(p.name for p in (tmp_path / "out" / "deeper").iterdir()) == \
        ["hevc.json", "jpeg.json", "smic.json"]


def test_results_dir_refuses_a_file_in_its_place(tmp_path) -> None:
    (tmp_path / "taken").write_text("x")
    with pytest.raises(ReferenceCurveError, match="not a folder"):
        write_results_dir(tmp_path / "taken", aggregate(_points()))


# ----------------------------------------------------------------------------- CLI


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def photo(tmp_path) -> Path:
    return write_noisy_photo(tmp_path / "photo.png", seed=3)


def test_cli_reference_curves_in_tables_bd_plot_and_json_dir(capsys, tmp_path, photo) -> None:
    own = tmp_path / "theirs.json"
    _write(own, {"name": "Theirs", "results": {"bpp": [0.5, 1, 2, 4], "psnr": [24, 28, 32, 36]}})
    out_dir, js, plot = tmp_path / "caj", tmp_path / "r.json", tmp_path / "rd.svg"
    code, out, err = run(capsys, "eval", str(photo), "-p", "jpeg", "-q", "20,40,60,80,95",
                         "--reference-curves", "published:kodak/jpeg", str(own),
                         "--anchor", "JPEG", "--json", str(js), "--json-dir", str(out_dir),
                         "--plot", str(plot), "--no-cache", "--quiet")
    assert code == 0, err
    assert "JPEG (published)" in out and "published, not measured here" in out
    assert "BD against JPEG (published)" in out
    bd_lines = [line for line in out.splitlines() if "BD-rate" in line and "  " in line]
    assert any(line.strip().startswith("jpeg ") for line in bd_lines)
    assert any(line.strip().startswith("Theirs (published)") for line in bd_lines)
    doc = json.loads(js.read_text())
    assert [r["name"] for r in doc["references"]] == ["JPEG (published)", "Theirs (published)"]
    assert doc["anchor"] == "JPEG (published)"
    assert {p["name"] for p in doc["pipelines"]} == {"jpeg"}
    assert sorted(p.name for p in out_dir.iterdir()) == ["jpeg.json"]
    _assert_compressai_schema(out_dir / "jpeg.json")
    svg = plot.read_text()
    assert "JPEG (published)" in svg and "Theirs (published)" in svg


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{", "not valid JSON"),
    ('{"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}', "has 1 values"),
    ('{"name": "x", "results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, NaN]}}', "not a finite"),
])
def test_cli_bad_reference_file_is_one_line_and_writes_nothing(capsys, tmp_path, photo,
                                                               content, message) -> None:
    bad = tmp_path / "curve.json"
    if content is not None:
        bad.write_text(content)
    js = tmp_path / "r.json"
    code, _, err = run(capsys, "eval", str(photo), "-p", "jpeg", "-q", "50",
                       "--reference-curves", str(bad), "--json", str(js),
                       "--json-dir", str(tmp_path / "d"), "--no-cache", "--quiet")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("edms: error: ") and message in lines[0] and "curve.json" in err
    assert not js.exists() and not (tmp_path / "d").exists()


def test_cli_unknown_anchor_and_published_name_are_one_line(capsys, photo) -> None:
    code, _, err = run(capsys, "eval", str(photo), "-p", "jpeg", "-q", "50", "--anchor", "VTM",
                       "--no-cache", "--quiet")
    assert code == 1 and err.count("\n") == 1 and "--anchor 'VTM'" in err
    code, _, err = run(capsys, "eval", str(photo), "-p", "jpeg", "-q", "50", "--no-cache",
                       "--reference-curves", "published:kodak/vtn", "--quiet")
    assert code == 1 and err.count("\n") == 1 and "kodak/vtm" in err


def test_eval_help_lists_the_shipped_curves(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for short in SHIPPED:
        assert short in out
    assert "--json-dir" in out and "published:SET/NAME" in out
