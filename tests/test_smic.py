"""SMIC: networks, semantic-map layer, bit-exact round trips, eval grid/hull, compare, training.

Round trips run with the shipped lite weights in ``models/`` (as on a fresh clone) and with
random weights (wrapped directly, no zoo); the random-weight nets get non-trivial
BatchNorm statistics and output layer so that Rec-Net is not the identity.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app import api
from app.codecs import CODEC_ID_HEVC, hevc
from app.container import from_bytes, to_bytes
from app.errors import PipelineError
from app.nets.smic import (
    build_d1,
    build_d2,
    build_recnet,
    build_ssnet,
    downsample,
    sampled_size,
)
from app.pipelines import smic as smic_mod
from app.pipelines import smic_spec
from app.pipelines.smic import (
    SmicNets,
    SmicPipeline,
    decode_semantic_map,
    encode_semantic_map,
    map_to_hevc_samples,
)
from tests.images import synthetic_image as _image

MODELS = Path(__file__).resolve().parents[1] / "models"


def _randomised(m: torch.nn.Module) -> torch.nn.Module:
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.fixture(scope="module")
def random_pipe() -> SmicPipeline:
    torch.manual_seed(0)
    rec = build_recnet("lite")
    torch.nn.init.normal_(rec.out.weight, 0, 0.05)  # not the identity (global skip)
    nets = SmicNets.from_modules(_randomised(build_ssnet("lite")), _randomised(rec),
                                 fingerprint=b"random01")
    return SmicPipeline(nets=nets)


# ---------------------------------------------------------------- networks
@pytest.mark.parametrize("config", ["lite", "paper"])
def test_network_shapes_any_size(config):
    ss, rec = build_ssnet(config).eval(), build_recnet(config).eval()
    with torch.no_grad():
        for h, w in ((1, 1), (13, 7), (21, 34))[: 3 if config == "lite" else 2]:
            assert ss(torch.zeros(1, 3, h, w)).shape == (1, 11, h, w)
            out = rec(torch.zeros(1, 3, h, w), torch.zeros(1, 11, h, w))
            assert out.shape == (1, 3, h, w) and out.abs().max() <= 1
        d1 = build_d1(config)(torch.zeros(1, 3, 32, 32), torch.zeros(1, 11, 32, 32))
        d2 = build_d2(config)(torch.zeros(1, 3, 32, 32), torch.zeros(1, 11, 32, 32),
                              torch.zeros(1, 3, 32, 32))  # padded up to its minimum size
    assert d1.shape[:2] == (1, 1) and d2.shape[:2] == (1, 1)
    if config == "paper":  # Table 1 / §2.1 sizes
        assert ss.net[0].out_channels == 60 and build_ssnet(config).config["n_res"] == 6
        assert len([m for m in build_d2(config).modules() if isinstance(m, torch.nn.Conv2d)]) == 7
        assert len([m for m in build_d1(config).modules() if isinstance(m, torch.nn.Conv2d)]) == 5


def test_lite_recnet_starts_as_bicubic():
    """The lite global skip: a fresh Rec-Net returns its (clamped) up-sampled input."""
    rec = build_recnet("lite").eval()
    up = torch.rand(1, 3, 24, 40) * 2.4 - 1.2
    with torch.no_grad():
        assert torch.equal(rec(up, torch.rand(1, 11, 24, 40)), up.clamp(-1, 1))


def test_downsample_is_box_average():
    img = np.zeros((5, 3, 3), np.uint8)
    img[..., 0] = 100
    img[0, 0, 0] = 104
    small = downsample(img, 4)
    assert small.shape == (*sampled_size(5, 3, 4), 3) == (2, 1, 3)
    # top-left block: 3 real columns + 1 edge-replicated column, 4 rows
    assert small[0, 0, 0] == round((104 * 2 + 100 * 14) / 16)
    assert downsample(np.full((1, 1, 3), 7, np.uint8), 16).tolist() == [[[7, 7, 7]]]


# ---------------------------------------------------------------- semantic-map layer
def _map(h: int = 48, w: int = 64) -> np.ndarray:
    lab = np.zeros((h, w), np.uint8)
    lab[8:30, 10:40] = 3
    lab[30:, :] = 8
    lab[:4, :4] = 11
    lab[40:, 50:] = 10
    return lab


def test_map_layer_is_exact_and_picks_smaller():
    for lab in (_map(), np.random.default_rng(1).integers(0, 11, (20, 30)).astype(np.uint8),
                np.zeros((1, 1), np.uint8)):
        cid, data, qp = encode_semantic_map(lab)
        assert np.array_equal(decode_semantic_map(cid, data), lab)
        if qp is None:  # lossless won: no exact HEVC coding was smaller
            assert cid != CODEC_ID_HEVC


def test_map_layer_hevc_path(monkeypatch):
    """With lossless coding made expensive, the highest exact HEVC QP is chosen."""
    lab = _map()
    monkeypatch.setattr(smic_mod, "encode_smallest_lossless", lambda a: (1, bytes(10**6)))
    cid, data, qp = encode_semantic_map(lab)
    assert cid == CODEC_ID_HEVC and qp is not None
    assert np.array_equal(decode_semantic_map(cid, data), lab)
    if qp < 51:  # one QP higher no longer rounds back to the labels
        from app.codecs import decode_layer
        from app.pipelines.smic import hevc_samples_to_map

        worse = hevc(qp + 1).encode(map_to_hevc_samples(lab))
        assert not np.array_equal(hevc_samples_to_map(decode_layer(CODEC_ID_HEVC, worse)), lab)


def test_pool_unpool_labels():
    from app.pipelines.smic import pool_labels, unpool_labels

    lab = np.zeros((13, 21), np.uint8)
    lab[:4, :4] = 11
    lab[9:, :] = 8
    assert np.array_equal(pool_labels(lab, 1), lab)
    small = pool_labels(lab, 4)
    assert small.shape == sampled_size(13, 21, 4)
    assert small[0, 0] == 11 and small[2, 0] == 8 and small[1, 0] == 0  # block majority
    up = unpool_labels(small, 4, 13, 21)
    assert up.shape == (13, 21) and up[12, 0] == 8
    assert pool_labels(np.array([[3]], np.uint8), 16).tolist() == [[3]]


def test_map_layer_refuses_non_maps():
    with pytest.raises(PipelineError):
        encode_semantic_map(np.full((4, 4), 12, np.uint8))
    with pytest.raises(PipelineError):
        decode_semantic_map(CODEC_ID_HEVC, hevc(30).encode(_image(8, 8)))


# ---------------------------------------------------------------- pipeline
def test_params_factor_is_discrete(random_pipe):
    assert random_pipe.check_params({"factor": 16})["factor"] == 16
    with pytest.raises(PipelineError, match="one of 2/4/8/16"):
        random_pipe.check_params({"factor": 3})


@pytest.mark.parametrize("size", [(1, 1), (13, 7), (40, 72)])
def test_random_weights_round_trip(random_pipe, size):
    image = _image(*size, seed=size[0])
    prep = random_pipe.prepare(image)
    for f, m in ((2, 1), (16, 4), (4, 16)):
        enc = random_pipe.encode_prepared(prep, {"qp": 30, "factor": f, "map_scale": m})
        assert [la.kind.name for la in enc.layers] == ["SEMANTIC_MAP", "COMPACT_IMAGE"]
        dec = random_pipe.decode(from_bytes(to_bytes(enc)))
        assert dec.shape == (*size, 3)
        assert np.array_equal(dec, enc.reconstruction)
        assert set(enc.views) >= {"segmentation", "upsampled", "prediction"}
    assert set(prep.sampled) == {2, 4, 16}  # down-sampling cached per factor
    assert set(prep.maps) == {1, 4, 16}  # map layers cached per map scale


def test_decoder_refuses_bad_params_and_layers(random_pipe):
    enc = random_pipe.encode(_image(20, 30), {"qp": 40, "factor": 8})
    for params in ({"qp": 40}, {"qp": 40, "factor": 5}):
        bad = from_bytes(to_bytes(enc))
        bad.params = params
        with pytest.raises(PipelineError):
            random_pipe.decode(bad)
    bad = from_bytes(to_bytes(enc))
    bad.params = {"qp": 40, "factor": 4, "map_scale": 8}  # layer 2 has the factor-8 size
    with pytest.raises(PipelineError, match="sampled image"):
        random_pipe.decode(bad)
    bad.layers = bad.layers[:1]
    with pytest.raises(PipelineError, match="compact_image"):
        random_pipe.decode(bad)


def test_lower_qp_and_factor_cost_more_bits(random_pipe):
    image = _image(64, 96, seed=4)
    prep = random_pipe.prepare(image)
    size = {(f, q): len(to_bytes(random_pipe.encode_prepared(prep, {"qp": q, "factor": f})))
            for f in (4, 8) for q in (22, 42)}
    assert size[4, 22] > size[4, 42] and size[4, 22] > size[8, 22]


def test_tiled_reconstruction_is_tile_independent(random_pipe, monkeypatch):
    """Halos exceed the receptive fields: tiled output ~ whole-image output."""
    from app.pipelines import netrun

    image = _image(80, 112, seed=2)
    seg = random_pipe.nets.segment(image)
    small = downsample(image, 4)
    whole = random_pipe.nets.reconstruct(small, 4, seg)[0]
    monkeypatch.setattr(netrun, "TILE", 32)
    tiled_seg = random_pipe.nets.segment(image)
    tiled = random_pipe.nets.reconstruct(small, 4, seg)[0]
    assert np.array_equal(tiled_seg, seg)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


SHIPPED = all((MODELS / f"{n}-lite.safetensors").exists() for n in ("ssnet", "recnet"))
# The weights are shipped, so a fresh clone has them: a missing file must fail, not skip.
needs_weights = pytest.mark.usefixtures("_shipped")


@pytest.fixture
def _shipped():
    assert SHIPPED, "models/ssnet-lite or models/recnet-lite is not shipped"


@needs_weights
@pytest.mark.parametrize("size", [(1, 1), (13, 7), (40, 72)])
def test_shipped_weights_round_trip(size):
    image = _image(*size, seed=7)
    for f, qp in ((2, 37), (16, 22)):
        enc, data = api.encode(image, "smic", {"qp": qp, "factor": f})
        dec = api.decode(data)
        assert dec.encoded.params == {"qp": qp, "factor": f, "map_scale": 8}
        assert np.array_equal(dec.image, enc.reconstruction)


@needs_weights
def test_mismatched_fingerprint_refused():
    _, data = api.encode(_image(16, 24), "smic", {"qp": 37, "factor": 4})
    enc = from_bytes(data)
    enc.model_fingerprint = bytes(8)
    with pytest.raises(PipelineError, match="model weights"):
        api.decode(to_bytes(enc))


@needs_weights
def test_decoder_bit_exact_in_fresh_process_other_threads(tmp_path):
    from app.imageio import save_image_atomic

    image = _image(72, 104, seed=9)
    enc, data = api.encode(image, "smic", {"qp": 32, "factor": 8})
    (tmp_path / "a.edms").write_bytes(data)
    save_image_atomic(tmp_path / "recon.png", enc.reconstruction)
    code = (
        "import sys, torch, numpy as np; torch.set_num_threads(int(sys.argv[3]));"
        "from app import api; from app.imageio import load_image;"
        "d = api.decode(sys.argv[1]).image; r = load_image(sys.argv[2]).array;"
        "sys.exit(0 if np.array_equal(d, r) else 1)"
    )
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.edms"),
                          str(tmp_path / "recon.png"), "2"],
                         env=dict(os.environ), capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0, res.stderr


# ---------------------------------------------------------------- eval grid and hull
def test_sweep_grid_product_and_overrides():
    from app.eval import sweep_grid

    grid = sweep_grid("smic")
    assert len(grid) == len(smic_spec.QP_SPEC.sweep) * len(smic_spec.FACTOR_SPEC.sweep)
    assert sweep_grid("smic", {"factor": [8, 16], "qp": [30]}) == [
        {"qp": 30, "factor": 8, "map_scale": 8}, {"qp": 30, "factor": 16, "map_scale": 8}]
    assert sweep_grid("jpeg") == [{"q": v} for v in sweep_grid_values("jpeg")]
    assert sweep_grid("hevc", values=[30, 40]) == [{"qp": 30, "tune": 0}, {"qp": 40, "tune": 0}]
    with pytest.raises(PipelineError, match="no parameter"):
        sweep_grid("jpeg", {"factor": [2]})


def sweep_grid_values(name: str) -> list[int]:
    from app.pipelines import registry

    return list(registry.params(name)[0].sweep)


def test_rd_hull():
    from app.eval import rd_hull

    bpp = [0.1, 0.2, 0.3, 0.4, 0.25, 0.5, 0.35]
    psnr = [20.0, 24.0, 25.0, 27.0, 21.0, 27.5, 26.9]
    # 0.25/21 is dominated, 0.3/25 lies under the chord 0.2/24 -> 0.35/26.9,
    # 0.4/27 under the chord 0.35/26.9 -> 0.5/27.5
    assert rd_hull(bpp, psnr) == [0, 1, 6, 5]
    assert rd_hull([0.1, 0.1], [20.0, float("inf")]) == [0]


def test_aggregate_keys_points_by_all_params_and_bd_uses_hull():
    from app.eval import RDPoint, aggregate, bd_table

    def pt(pipe, params, bpp, psnr):
        first = next(iter(params))
        return RDPoint("a.png", pipe, first, params[first], 8, 8, 1, 1, bpp, bpp, psnr, 0.9,
                       0.5, 0.0, 0.0, {}, params)

    points = [pt("smic", {"qp": q, "factor": f}, b, p) for q, f, b, p in (
        (30, 4, 0.30, 30.0), (40, 4, 0.12, 26.0), (30, 8, 0.10, 26.5), (40, 8, 0.05, 24.0),
        (35, 4, 0.20, 28.5))]
    points += [pt("hevc", {"qp": q}, b, p) for q, b, p in (
        (32, 0.4, 31.0), (37, 0.2, 28.0), (42, 0.1, 26.0), (47, 0.05, 23.5))]
    summary = aggregate(points)
    smic = summary["smic"]
    assert smic["params"] == ["qp", "factor"] and len(smic["results"]["bpp"]) == 5
    assert smic["results"]["factor"][0] == 8  # lowest bpp first
    hull_bpp = [smic["results"]["bpp"][i] for i in smic["hull"]]
    assert 0.12 not in hull_bpp and hull_bpp == sorted(hull_bpp)
    only = aggregate(points, hull_only=True)["smic"]["results"]["bpp"]
    assert only == hull_bpp
    table = bd_table(summary, "hevc")
    assert table["hevc"]["bd-rate-%"] == pytest.approx(0.0, abs=1e-6)
    assert table["smic"]["bd-rate-%"] is not None


def test_cli_eval_param_grid_and_hull(tmp_path, capsys):
    from app.cli import main
    from app.imageio import save_image_atomic

    save_image_atomic(tmp_path / "a.png", _image(24, 32))
    js = tmp_path / "r.json"
    assert main(["eval", str(tmp_path / "a.png"), "-p", "jpeg,hevc", "--param", "q=10,50",
                 "--param", "qp=30,40,45", "--hull", "--json", str(js), "--quiet"]) == 0
    doc = json.loads(js.read_text())
    names = {e["name"]: e for e in doc["pipelines"]}
    assert sorted(names["jpeg"]["results"]["q"]) in ([10, 50], [10], [50])
    assert len(doc["per_image"]) == 5 and doc["hull_only"] is True
    assert all("params" in row for row in doc["per_image"])
    assert main(["eval", str(tmp_path / "a.png"), "-p", "jpeg", "--param", "factor=4"]) == 1
    assert "none of jpeg has it" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "a.png"), "-p", "jpeg", "--param", "q=500"]) == 1
    assert main(["eval", str(tmp_path / "a.png"), "-p", "hevc,hevc-420", "--param", "qp=40",
                 "--param", "hevc:qp=45,50", "--json", str(js), "--quiet"]) == 0
    doc = json.loads(js.read_text())
    assert {(r["pipeline"], r["value"]) for r in doc["per_image"]} == {
        ("hevc", 45), ("hevc", 50), ("hevc-420", 40)}
    assert main(["eval", str(tmp_path / "a.png"), "-p", "hevc", "--param", "jpeg:q=5"]) == 1


# ---------------------------------------------------------------- compare command
def test_compare_writes_labelled_image(tmp_path, capsys):
    from app.cli import main
    from app.imageio import load_image, save_image_atomic

    save_image_atomic(tmp_path / "a.png", _image(48, 64))
    out = tmp_path / "side.png"
    assert main(["compare", str(tmp_path / "a.png"), "--bpp", "1.0", "-p", "jpeg,hevc",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "jpeg" in text and "hevc" in text and "bpp" in text
    arr = load_image(out).array
    assert arr.shape[1] == 3 * 64 + 2 * 6 and arr.shape[0] > 48


def test_compare_closest_setting_search(random_pipe):
    from app.api import closest_setting

    image = _image(48, 64, seed=3)
    data = closest_setting(random_pipe, image, 2.0).data
    prep = random_pipe.prepare(image)
    bpps = {(f, q): 8 * len(to_bytes(random_pipe.encode_prepared(prep, {"qp": q, "factor": f})))
            / (48 * 64) for f in (4, 8) for q in (0, 20, 40, 51)}  # the factor sweep
    got = 8 * len(data) / (48 * 64)
    assert abs(got - 2.0) <= min(abs(b - 2.0) for b in bpps.values()) + 1e-9


@pytest.mark.parametrize("argv, msg", [
    (["--bpp", "0", "-p", "jpeg"], "--bpp must be positive"),
    (["--bpp", "0.1", "-p", "nosuch"], "unknown pipeline"),
])
def test_compare_refuses_bad_input(tmp_path, capsys, argv, msg):
    from app.cli import main
    from app.imageio import save_image_atomic

    save_image_atomic(tmp_path / "a.png", _image(8, 8))
    out = tmp_path / "side.png"
    assert main(["compare", str(tmp_path / "a.png"), *argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edms: error:") and msg in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["compare", str(tmp_path / "missing.png"), "--bpp", "0.1", "-p", "jpeg",
                 "-o", str(out)]) == 1


# ---------------------------------------------------------------- training smoke
def test_train_ssnet_then_recnet_smoke(tmp_path):
    from app.nets import zoo
    from app.train import train_main
    from tests.test_nets import _fake_camvid

    data, out = tmp_path / "data", tmp_path / "models"
    _fake_camvid(data, size=(48, 40))
    common = ["--data", str(data), "--threads", "1", "--device", "cpu", "--crop", "32",
              "--batch", "2", "--val-every", "1", "--out", str(out)]
    assert train_main(["ssnet", *common, "--iters", "2", "--run-dir", str(tmp_path / "s")]) == 0
    man = json.loads((out / "ssnet-lite.json").read_text())
    assert "miou" in man["validation"]
    rec = ["recnet", *common, "--models", str(out), "--run-dir", str(tmp_path / "r")]
    assert train_main([*rec, "--iters", "2"]) == 0
    assert train_main([*rec, "--iters", "3", "--resume"]) == 0
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["step"] == 3
    man = json.loads((out / "recnet-lite.json").read_text())
    assert "psnr_gain_db" in man["validation"] and "SS-Net" in man["semantic_map_input"]
    zoo.load_model("recnet", "lite", root=out)


# ---------------------------------------------------------------- GUI control
def test_gui_param_row_discrete_values(qtbot):
    from app.gui.panels import ParamRow

    spec = {"name": "factor", "label": "sampling factor", "minimum": 2, "maximum": 16,
            "default": 4, "sweep": [4, 8], "higher_is_better": False, "values": [2, 4, 8, 16]}
    row = ParamRow("B", spec)
    qtbot.addWidget(row)
    assert row.value() == 4 and row.slider.maximum() == 3
    with qtbot.waitSignal(row.changed):
        row.slider.setValue(3)
    assert row.value() == 16 and row.spin.currentText() == "16"
    row.set_value(2)
    assert row.value() == 2 and row.slider.value() == 0
