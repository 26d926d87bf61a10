"""The workbench's Qt-free data model (:mod:`app.session`)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from app.pipelines.base import View, ViewKind
from app.session import (
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    LayerInfo,
    Result,
    Session,
    colorize_segmentation,
    error_map,
    params_key,
    view_to_rgb,
    write_text_atomic,
)


def _result(image_id: int, pipeline: str, value: int, nbytes: int, psnr: float,
            done: bool = True) -> Result:
    decoded = np.zeros((8, 16, 3), np.uint8)
    return Result(
        image_id=image_id, pipeline=pipeline, params={"qp": value}, decoded=decoded,
        edms=b"x" * nbytes, width=16, height=8,
        layers=[LayerInfo("image", "hevc", nbytes - 30)], psnr=psnr,
        ms_ssim=0.9 + psnr / 1000, haarpsi=0.8, encode_s=0.1, decode_s=0.01,
        metrics_done=done,
    )


def test_results_are_keyed_by_image_pipeline_and_params() -> None:
    s = Session()
    img = s.add_image("a", np.zeros((8, 16, 3), np.uint8))
    r = s.add_result(_result(img.id, "hevc", 32, 100, 30.0))
    assert s.get_result(img.id, "hevc", {"qp": 32}) is r
    assert s.get_result(img.id, "hevc", {"qp": 33}) is None
    assert params_key({"b": 1, "a": 2}) == params_key({"a": 2, "b": 1})
    assert r.bpp == pytest.approx(8 * 100 / 128)
    assert r.payload_bytes == 70 and r.layer_bytes() == {"image": 70}
    s.remove_image(img.id)
    assert not s.results and not s.images


def test_add_image_refuses_non_rgb8() -> None:
    with pytest.raises(ValueError):
        Session().add_image("g", np.zeros((4, 4), np.uint8))


def test_rd_points_only_complete_results_and_bd_table() -> None:
    s = Session()
    img = s.add_image("a", np.zeros((8, 16, 3), np.uint8))
    for i, qp in enumerate((22, 27, 32, 37)):
        s.add_result(_result(img.id, "hevc", qp, 400 - 80 * i, 40.0 - 3 * i))
        s.add_result(_result(img.id, "jpeg", qp, 480 - 96 * i, 40.0 - 3 * i))
    s.add_result(_result(img.id, "jpeg", 50, 50, 20.0, done=False))  # metrics pending
    assert len(s.rd_points(img.id)) == 8
    series = s.rd_series(img.id, "psnr")
    assert [p[0] for p in series["hevc"]] == sorted(p[0] for p in series["hevc"])
    table = s.bd_table(img.id, "hevc")
    assert table["hevc"]["bd-rate-%"] == pytest.approx(0.0, abs=1e-6)
    assert table["jpeg"]["bd-rate-%"] == pytest.approx(20.0, abs=0.5)  # 1.2x the bytes
    # the same at equal MS-SSIM (here a function of the PSNR, so the same saving)
    assert table["jpeg"]["bd-rate-msssim-%"] == pytest.approx(20.0, abs=0.5)
    ms = s.rd_series(img.id, "ms_ssim")["hevc"][0][1]
    assert ms == pytest.approx(-10 * math.log10(1 - (0.9 + 0.031)))


def test_csv_and_json_exports() -> None:
    s = Session()
    img = s.add_image("kodim01.png", np.zeros((8, 16, 3), np.uint8))
    s.add_result(_result(img.id, "hevc", 32, 100, math.inf))  # lossless: inf PSNR
    rows = list(csv.DictReader(io.StringIO(s.csv_text(img.id))))
    assert rows[0]["pipeline"] == "hevc" and rows[0]["bytes_image"] == "70"
    doc = s.json_document(img.id, "hevc")
    assert doc["pipelines"][0]["name"] == "hevc"
    assert doc["per_image"][0]["psnr_rgb"] == "inf"


def test_colorize_and_views() -> None:
    assert len(CAMVID_CLASSES) == len(CAMVID_PALETTE) == 11
    seg = np.array([[0, 3, 10, 11]], np.uint8)
    rgb = colorize_segmentation(seg)
    assert tuple(rgb[0, 1]) == (128, 64, 128)  # Road
    assert tuple(rgb[0, 3]) == (0, 0, 0)  # outside the classes: black
    # the kind decides how a view is drawn, not its name
    assert np.array_equal(view_to_rgb(View(ViewKind.SEGMENTATION, seg)), rgb)
    assert not np.array_equal(view_to_rgb(View(ViewKind.IMAGE, seg)), rgb)
    res = np.array([[-4.0, 0.0, 4.0]], np.float32)
    out = view_to_rgb(View(ViewKind.RESIDUAL, res))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 127 and out[0, 2, 0] == 255
    positive = np.array([[0.0, 2.0, 4.0]], np.float32)
    assert view_to_rgb(View(ViewKind.RESIDUAL, positive))[0, 0, 0] == 127  # around grey
    assert view_to_rgb(View(ViewKind.IMAGE, positive))[0, 0, 0] == 0  # stretched
    chw = np.zeros((3, 5, 7), np.uint8)
    assert view_to_rgb(View(ViewKind.IMAGE, chw)).shape == (5, 7, 3)
    with pytest.raises(ValueError):
        view_to_rgb(View(ViewKind.IMAGE, np.zeros((2, 2, 2, 2))))


def test_error_map_hot_colours() -> None:
    a = np.zeros((1, 3, 3), np.uint8)
    b = a.copy()
    b[0, 1] = (0, 10, 0)
    b[0, 2] = (255, 0, 0)
    m = error_map(a, b)
    assert tuple(m[0, 0]) == (0, 0, 0)
    assert m[0, 1, 0] > 0 and m[0, 1, 2] == 0  # small error: red
    assert tuple(m[0, 2]) == (255, 255, 255)  # saturated: white
    with pytest.raises(ValueError):
        error_map(a, np.zeros((2, 3, 3), np.uint8))


def test_write_text_atomic(tmp_path) -> None:
    p = tmp_path / "x.csv"
    write_text_atomic(p, "a,b\n")
    write_text_atomic(p, b"c")
    assert p.read_bytes() == b"c"
    assert [q.name for q in tmp_path.iterdir()] == ["x.csv"]
