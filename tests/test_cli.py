"""The CLI end to end, including the foundation's bad-input matrix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from tests.badinputs import make_bad_input_matrix
from tests.images import write_noisy_photo

ACCEPTED = ["tiny_1x1", "odd_7x13", "png16", "rgba", "gray", "cmyk_jpeg", "exif_rotated_jpeg"]
REFUSED = ["empty", "truncated_png", "text_as_png", "huge_header_png"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("edms: error: ")
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, Path]:
    return make_bad_input_matrix(tmp_path_factory.mktemp("bad"))


@pytest.fixture
def photo(tmp_path) -> Path:
    return write_noisy_photo(tmp_path / "photo.png", seed=0)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_inputs_give_one_line_and_no_output(capsys, tmp_path, matrix, name):
    out = tmp_path / "out.edms"
    code, _, err = run(
        capsys, "encode", str(matrix[name]), "-p", "hevc", "-q", "32", "-o", str(out)
    )
    assert_one_line_error(code, err)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either


def test_huge_header_names_the_limit(capsys, tmp_path, matrix):
    code, _, err = run(
        capsys,
        "encode",
        str(matrix["huge_header_png"]),
        "-p",
        "hevc",
        "-o",
        str(tmp_path / "x.edms"),
    )
    assert code != 0 and "MP" in err


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_inputs_round_trip(capsys, tmp_path, matrix, name):
    edms, recon, decoded = tmp_path / "a.edms", tmp_path / "r.png", tmp_path / "d.png"
    code, out, err = run(
        capsys,
        "encode",
        str(matrix[name]),
        "-p",
        "hevc",
        "-q",
        "30",
        "-o",
        str(edms),
        "--recon",
        str(recon),
    )
    assert code == 0, err
    code, out, err = run(capsys, "decode", str(edms), "-o", str(decoded))
    assert code == 0, err
    a, b = np.asarray(Image.open(recon)), np.asarray(Image.open(decoded))
    assert a.shape == b.shape and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b)


def test_exif_rotation_is_applied(capsys, tmp_path, matrix):
    edms = tmp_path / "a.edms"
    with Image.open(matrix["exif_rotated_jpeg"]) as im:
        raw_w, raw_h = im.size
    assert raw_w != raw_h
    assert (
        run(capsys, "encode", str(matrix["exif_rotated_jpeg"]), "-p", "jpeg", "-o", str(edms))[0]
        == 0
    )
    code, out, _ = run(capsys, "info", str(edms), "--json")
    info = json.loads(out)
    assert (info["width"], info["height"]) == (raw_h, raw_w)


@pytest.mark.parametrize("damage", ["truncate", "bitflip"])
def test_damaged_edms_is_refused(capsys, tmp_path, photo, damage):
    edms, png = tmp_path / "a.edms", tmp_path / "a.png"
    assert run(capsys, "encode", str(photo), "-p", "hevc", "-q", "32", "-o", str(edms))[0] == 0
    data = bytearray(edms.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) - 10] ^= 0x10  # inside the payload: the layer CRC must catch it
    edms.write_bytes(bytes(data))
    code, _, err = run(capsys, "decode", str(edms), "-o", str(png))
    assert_one_line_error(code, err)
    assert not png.exists()


def test_unknown_pipeline_and_bad_qp(capsys, tmp_path, photo):
    code, _, err = run(capsys, "encode", str(photo), "-p", "nope", "-o", str(tmp_path / "x"))
    assert_one_line_error(code, err)
    assert "unknown pipeline" in err
    code, _, err = run(
        capsys, "encode", str(photo), "-p", "hevc", "-q", "99", "-o", str(tmp_path / "x")
    )
    assert_one_line_error(code, err)
    assert "0..51" in err
    assert not (tmp_path / "x").exists()


def test_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "decode", str(tmp_path / "none.edms"), "-o", str(tmp_path / "o"))
    assert_one_line_error(code, err)


def test_info_lists_layers(capsys, tmp_path, photo):
    edms = tmp_path / "a.edms"
    run(capsys, "encode", str(photo), "-p", "hevc", "-q", "32", "-o", str(edms))
    code, out, _ = run(capsys, "info", str(edms))
    assert code == 0
    assert "hevc" in out and "image" in out and "bpp" in out


def test_eval_psnr_matches_decoded_file(capsys, tmp_path, photo):
    """The decoded PNG is the encoder's reconstruction and eval reports its PSNR."""
    from app.metrics import psnr_rgb

    edms, png, js = tmp_path / "a.edms", tmp_path / "a.png", tmp_path / "r.json"
    run(capsys, "encode", str(photo), "-p", "hevc", "-q", "32", "-o", str(edms))
    run(capsys, "decode", str(edms), "-o", str(png))
    decoded = np.asarray(Image.open(png).convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    code, out, err = run(
        capsys,
        "eval",
        str(photo),
        "-p",
        "hevc,jpeg",
        "-q",
        "32",
        "--json",
        str(js),
        "--plot",
        str(tmp_path / "rd.png"),
        "--quiet",
    )
    assert code == 0, err
    doc = json.loads(js.read_text())
    row = next(r for r in doc["per_image"] if r["pipeline"] == "hevc")
    assert row["psnr_rgb"] == pytest.approx(psnr_rgb(original, decoded), abs=1e-9)
    assert row["file_bytes"] == edms.stat().st_size
    names = {p["name"] for p in doc["pipelines"]}
    assert names == {"hevc", "jpeg"}
    assert set(doc["pipelines"][0]["results"]) >= {"bpp", "psnr-rgb", "ms-ssim-rgb"}
    assert (tmp_path / "rd.png").stat().st_size > 1000


def test_eval_refuses_bad_image_without_writing(capsys, tmp_path, photo, matrix):
    js = tmp_path / "r.json"
    code, _, err = run(
        capsys,
        "eval",
        str(photo),
        str(matrix["text_as_png"]),
        "-p",
        "hevc",
        "-q",
        "32",
        "--json",
        str(js),
        "--quiet",
    )
    assert_one_line_error(code, err)
    assert not js.exists()


def test_console_entry_point(tmp_path, photo):
    """`python -m app` is the real entry point: exit codes and stderr through a process."""
    edms = tmp_path / "a.edms"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "encode",
            str(photo),
            "-p",
            "webp",
            "-q",
            "80",
            "-o",
            str(edms),
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "app", "decode", str(photo), "-o", str(tmp_path / "x.png")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_eval_outputs_have_normal_permissions(capsys, tmp_path, photo):
    import os
    import stat

    js, plot = tmp_path / "r.json", tmp_path / "rd.svg"
    old = os.umask(0o022)
    try:
        assert main(["eval", str(photo), "-p", "jpeg", "-q", "50", "--json", str(js),
                     "--plot", str(plot), "--quiet"]) == 0
    finally:
        os.umask(old)
    for path in (js, plot):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert plot.read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "r.json", "rd.svg"]
