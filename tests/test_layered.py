"""DSSLIC / EDMS pipelines: round trips, bit-exact decoder, refused mismatched weights.

The logic tests run with freshly initialised networks written to a temporary models
folder (they need no training); ``test_shipped_*`` use the weights in ``models/``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app import api
from app.container import from_bytes, to_bytes
from app.errors import PipelineError
from app.pipelines import dsslic as dsslic_mod
from app.pipelines import registry
from app.pipelines.layered import residual_apply, residual_encode, residual_encode10
from tests.images import synthetic_image as _image

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture
def random_models(tmp_path, monkeypatch):
    """Write randomly initialised lite networks (seeded) and point the zoo at them."""
    from app.nets.dsslic import CONFIGS as DSS_CONFIGS
    from app.nets.dsslic import build_dsslic
    from app.nets.segnet import CONFIGS as SEG_CONFIGS
    from app.nets.segnet import build_segnet
    from app.train.common import export_safetensors

    torch.manual_seed(0)
    export_safetensors(build_segnet("lite").state_dict(), tmp_path, "segnet-lite",
                       {"config": SEG_CONFIGS["lite"]})
    export_safetensors(build_dsslic("lite").state_dict(), tmp_path, "dsslic-lite",
                       {"config": DSS_CONFIGS["lite"]})
    edms = build_dsslic("lite")  # edms's own FineNet: make it differ from dsslic's
    torch.nn.init.normal_(edms.finenet.net[-2].weight, std=0.02)
    export_safetensors(edms.state_dict(), tmp_path, "dsslic-edms-lite",
                       {"config": DSS_CONFIGS["lite"]})
    from app.nets.smapnet import CONFIGS as SM_CONFIGS
    from app.nets.smapnet import build_smapnet

    sm = build_smapnet("lite")
    torch.nn.init.normal_(sm.out.weight, std=0.5)  # not the identity map it starts as
    export_safetensors(sm.state_dict(), tmp_path, "smapnet-lite", {"config": SM_CONFIGS["lite"]})
    from app.nets.postnet import CONFIGS as PN_CONFIGS
    from app.nets.postnet import build_postnet

    pn = build_postnet("lite")
    torch.nn.init.normal_(pn.tail.weight, std=0.01)  # not the identity it starts as
    export_safetensors(pn.state_dict(), tmp_path, "postnet-lite", {"config": PN_CONFIGS["lite"]})
    from app.pipelines.postfilter import shared_post_filter

    monkeypatch.setenv("EDMS_MODELS_DIR", str(tmp_path))
    caches = (shared_post_filter, dsslic_mod._cached_nets)
    for cached in caches:  # networks loaded from other weights must not be reused
        cached.cache_clear()
    from app.pipelines import registry

    monkeypatch.setattr(registry, "_INSTANCES", {})
    yield tmp_path
    for cached in caches:
        cached.cache_clear()


def test_residual_mapping_is_algorithm_1():
    x = np.arange(256, dtype=np.uint8).repeat(256).reshape(256, 256)
    xp = x.T.copy()
    r = residual_encode(x, xp)
    assert r.dtype == np.uint8
    # lossless residual: at most the 1-level rounding loss of the halving
    assert np.abs(residual_apply(xp, r).astype(int) - x.astype(int)).max() <= 1


def test_10bit_residual_is_lossless_without_halving():
    x = np.arange(256, dtype=np.uint8).repeat(256).reshape(256, 256)
    xp = x.T.copy()
    r = residual_encode10(x, xp)
    assert r.dtype == np.uint16 and r.min() == 2 and r.max() == 1022
    assert np.array_equal(residual_apply(xp, r), x)  # every level kept


@pytest.mark.parametrize("name,depth", [("dsslic", 8), ("edms", 8), ("dsslic-lb", 10),
                                        ("edms-lb", 10), ("layered-ref", 8),
                                        ("layered-ref-lb", 10)])
def test_residual_sample_depth(random_models, name, depth):
    """Paper layouts code the halved 8-bit residual; the -lb extensions a 10-bit one."""
    from app.codecs import decode_layer

    _, data = api.encode(_image(24, 40), name, {"qp": 30})
    res = [lay for lay in from_bytes(data).layers if lay.kind.name == "RESIDUAL"][0]
    assert decode_layer(res.codec_id, res.data).dtype == (np.uint8 if depth == 8 else np.uint16)


@pytest.mark.parametrize("name", ["dsslic", "dsslic-lb", "edms", "edms-noenh", "edms-lb",
                                  "edms-pf", "edms-lb-pf", "layered-ref", "layered-ref-lb"])
@pytest.mark.parametrize("size", [(1, 1), (13, 7), (40, 72)])
def test_round_trip_bit_exact(random_models, name, size):
    image = _image(*size)
    enc, data = api.encode(image, name, {"qp": 30})
    if not name.startswith("layered-ref"):
        assert enc.model_fingerprint and len(enc.model_fingerprint) == 8
    dec = api.decode(data)
    assert dec.image.shape == image.shape
    assert np.array_equal(dec.image, enc.reconstruction)
    # every view the decoder derives is the encoder's, pixel for pixel: the prediction,
    # the residual, the post-filter's blocks, the class map it used
    views = registry.get(name).decode_with_views(from_bytes(data))[1]
    expected = {"prediction", "residual"} | (
        {"before_post_filter", "post_filter_blocks"} if name.endswith("-pf") else set())
    assert expected <= set(views) <= set(enc.views)
    for key, view in views.items():
        assert np.array_equal(view.array, enc.views[key].array), (name, size, key)
    kinds = [layer.kind.name for layer in from_bytes(data).layers]
    if name.startswith("dsslic"):
        assert kinds == ["SEMANTIC_MAP", "COMPACT_IMAGE", "RESIDUAL", "CHECK"]
    elif name.startswith("layered-ref"):  # no networks: exact by construction, no check
        assert kinds == ["COMPACT_IMAGE", "RESIDUAL"] and enc.model_fingerprint == b""
    elif name.endswith("-pf"):
        assert kinds == ["COMPACT_IMAGE", "RESIDUAL", "SIDE_INFO", "CHECK"]
    else:
        assert kinds == ["COMPACT_IMAGE", "RESIDUAL", "CHECK"]


@pytest.mark.parametrize("name,plain", [("edms-pf", "edms"), ("edms-lb-pf", "edms-lb")])
def test_post_filter_pipelines(random_models, name, plain):
    """-pf = the plain pipeline's bitstream + block strengths; PostNet blended in by them."""
    from app.codecs import decode_layer
    from app.pipelines.layered import POST_BLOCK, _block_sse, unpack_levels

    image = _image(80, 136)
    enc, data = api.encode(image, name, {"qp": 30})
    ref, ref_data = api.encode(image, plain, {"qp": 30})
    body = [lay for lay in enc.layers if lay.kind.name != "CHECK"]
    assert [lay.data for lay in body[:-1]] == [lay.data for lay in ref.layers
                                              if lay.kind.name != "CHECK"]
    assert body[-1].kind.name == "SIDE_INFO"
    levels = unpack_levels(decode_layer(body[-1].codec_id, body[-1].data), (2, 3), "")
    assert np.array_equal(enc.views["before_post_filter"].array, ref.reconstruction)
    # never worse than the unfiltered image, block by block
    after = _block_sse(image, enc.reconstruction, POST_BLOCK)
    before = _block_sse(image, ref.reconstruction, POST_BLOCK)
    assert (after <= before).all() and (after[levels == 0] == before[levels == 0]).all()
    assert enc.model_fingerprint != ref.model_fingerprint  # PostNet is part of it
    assert np.array_equal(api.decode(data).image, enc.reconstruction)
    assert np.array_equal(api.decode(ref_data).image, ref.reconstruction)


def test_post_filter_levels_pick_the_best_strength():
    from app.pipelines.layered import (
        POST_LEVELS,
        apply_post_levels,
        pack_levels,
        post_filter_levels,
        unpack_levels,
    )

    x = np.full((70, 200, 3), 100, np.uint8)
    a, b = x.copy(), x.copy()
    a[:64, :64] = 108  # block (0, 0): x_hat is 8 off, the filter exact -> full strength
    b[:64, 64:128] = 108  # block (0, 1): the filter is wrong -> off
    a[:64, 128:192], b[:64, 128:192] = 108, 92  # (0, 2): halfway is exact -> nearest to 1/2
    b[64:, :] = 116  # bottom row: x_hat exact -> off (and ties keep the weaker)
    levels = post_filter_levels(x, a, b, block=64)
    assert POST_LEVELS == (0, 3, 5, 8)
    assert levels.tolist() == [[3, 0, 1, 0], [0, 0, 0, 0]]  # 3/8 and 5/8 tie at 1/2: weaker
    out = apply_post_levels(a, b, levels, block=64)
    assert np.array_equal(out[:64, :64], x[:64, :64]) and np.array_equal(out[64:], a[64:])
    assert int(out[0, 130, 0]) == 108 - (3 * 16 + 4) // 8  # x_hat + round(3/8 * (b - x_hat))
    for shape in ((2, 4), (1, 1), (3, 3), (5, 7)):
        lv = np.random.default_rng(0).integers(0, 4, shape).astype(np.uint8)
        packed = pack_levels(lv)
        assert packed.shape == (1, -(-lv.size // 4))
        assert np.array_equal(unpack_levels(packed, shape, "t"), lv)


def _with_levels(data: bytes, levels: np.ndarray, **params) -> bytes:
    """The file with other block strengths (and parameters), without its check layer:
    decode it with :func:`_decode_unchecked`, since it no longer matches the encoder."""
    from app.codecs import encode_smallest_lossless
    from app.pipelines.base import Layer, LayerKind
    from app.pipelines.layered import pack_levels

    f = from_bytes(data)
    codec_id, payload = encode_smallest_lossless(pack_levels(levels.astype(np.uint8)))
    body = [lay for lay in f.layers if lay.kind != LayerKind.CHECK]
    f.layers = [*body[:-1], Layer(LayerKind.SIDE_INFO, codec_id, payload)]
    f.params = {**f.params, **params}
    return to_bytes(f)


def _decode_unchecked(data: bytes) -> np.ndarray:
    from app.pipelines import registry

    f = from_bytes(data)
    return registry.get(f.pipeline).decode(f)


def test_post_filter_runs_at_the_files_levels_and_qp(random_models):
    """Full strength: the decoder outputs PostNet(x_hat, x', QP of the header)."""
    from app.pipelines import registry

    image = _image(40, 56)
    enc, data = api.encode(image, "edms-pf", {"qp": 30})
    pipe = registry.get("edms-pf")
    x_hat, pred = enc.views["before_post_filter"].array, enc.views["prediction"].array
    full_level = np.full((1, 1), 3, np.uint8)
    filtered = pipe.post_filter(x_hat, pred, 30)
    full = _decode_unchecked(_with_levels(data, full_level))
    assert np.array_equal(full, filtered)
    assert not np.array_equal(full, x_hat)  # the (random) filter acts
    assert not np.array_equal(_decode_unchecked(_with_levels(data, full_level, qp=45)), full)
    assert np.array_equal(_decode_unchecked(_with_levels(data, 0 * full_level)), x_hat)
    half = _decode_unchecked(_with_levels(data, 0 * full_level + 2))  # 5/8
    d = filtered.astype(np.int16) - x_hat
    assert np.array_equal(half, x_hat + ((5 * d + 4) >> 3))
    with pytest.raises(PipelineError, match="post-filter levels"):
        _decode_unchecked(_with_levels(data, np.ones((3, 3), np.uint8)))  # 18 bits: three bytes


def test_layered_reference_is_box_down_bicubic_up():
    from app.pipelines import registry
    from app.pipelines.reference import bicubic_upsample, box_downsample

    image = _image(64, 80)
    c8 = box_downsample(image)
    assert c8.shape == (8, 10, 3)
    assert int(c8[0, 0, 0]) == int(np.rint(image[:8, :8, 0].mean()))
    enc = registry.get("layered-ref").encode(image, {"qp": 30})
    assert np.array_equal(enc.views["prediction"].array, bicubic_upsample(c8))


def test_lower_qp_is_better_and_sweep_reuses_networks(random_models, monkeypatch):
    from app.metrics import psnr_rgb
    from app.pipelines import registry

    # sharp 4x4 blocks: detail that neither bicubic upsampling nor noise-level coding hides
    blocks = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = np.ascontiguousarray(blocks.repeat(4, 0).repeat(4, 1))
    pipe = registry.get("dsslic")
    calls = {"n": 0}
    real = pipe.nets.reconstruct

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(pipe.nets, "reconstruct", counting)
    prep = pipe.prepare(image)
    psnrs = [psnr_rgb(image, pipe.encode_prepared(prep, {"qp": qp}).reconstruction)
             for qp in (42, 32, 22)]
    assert calls["n"] == 1  # networks once, residual coding per QP
    assert psnrs[0] < psnrs[1] < psnrs[2]


def test_mismatched_weights_are_refused(random_models, monkeypatch):

    _, data = api.encode(_image(16, 24), "dsslic", {"qp": 32})
    enc = from_bytes(data)
    enc.model_fingerprint = bytes(8)
    with pytest.raises(PipelineError, match="model weights"):
        api.decode(to_bytes(enc))


def test_tiled_inference_matches_decoder(random_models, monkeypatch):
    """Large images are tiled; the decoder tiles identically (small tile to test fast)."""
    from app.pipelines import netrun

    monkeypatch.setattr(netrun, "TILE", 32)
    monkeypatch.setattr(netrun, "HALO", 8)
    image = _image(70, 90)
    for name in ("dsslic", "edms-pf"):
        enc, data = api.encode(image, name, {"qp": 27})
        assert np.array_equal(api.decode(data).image, enc.reconstruction)


def test_decoder_is_bit_exact_with_other_thread_count(random_models, tmp_path):
    """Decoding in a process with a different torch thread count rebuilds the same image."""
    from app.imageio import save_image_atomic

    image = _image(64, 96)
    enc, data = api.encode(image, "edms-noenh", {"qp": 32})
    (tmp_path / "a.edms").write_bytes(data)
    save_image_atomic(tmp_path / "recon.png", enc.reconstruction)
    code = (
        "import sys, torch, numpy as np; torch.set_num_threads(int(sys.argv[3]));"
        "from app import api; from app.imageio import load_image;"
        "d = api.decode(sys.argv[1]).image; r = load_image(sys.argv[2]).array;"
        "sys.exit(0 if np.array_equal(d, r) else 1)"
    )
    enc2, data2 = api.encode(image, "edms", {"qp": 32})
    assert enc2.model_fingerprint != enc.model_fingerprint  # SMapNet is part of it
    assert "segmentation_before_smapnet" in enc2.views
    for threads in ("1", "2"):
        res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.edms"),
                              str(tmp_path / "recon.png"), threads],
                             env={**__import__("os").environ}, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name", ["dsslic", "edms-noenh", "edms", "dsslic-lb", "edms-lb",
                                  "edms-pf", "edms-lb-pf"])
def test_shipped_weights_round_trip(name):
    """The weights in models/ (a fresh clone has them: no skip) round-trip bit-exactly."""
    for net in ("segnet", "dsslic", "dsslic-edms", "smapnet", "postnet"):
        assert (MODELS / f"{net}-lite.safetensors").exists(), f"{net}-lite is not shipped"
    image = _image(96, 128, seed=3)
    enc, data = api.encode(image, name, {"qp": 32})
    assert np.array_equal(api.decode(data).image, enc.reconstruction)


def test_segment_command_matches_dsslic_layer(random_models, tmp_path, capsys):
    """`edms segment` writes the class map a DSSLIC file carries."""
    from app.cli import main
    from app.codecs import decode_layer
    from app.imageio import load_image, save_image_atomic
    from app.pipelines.base import LayerKind

    image = _image(50, 70, seed=5)
    save_image_atomic(tmp_path / "in.png", image)
    assert main(["segment", str(tmp_path / "in.png"), "-o", str(tmp_path / "s.png"),
                 "--color", str(tmp_path / "c.png")]) == 0
    from PIL import Image

    labels = np.asarray(Image.open(tmp_path / "s.png"))
    assert labels.shape == (50, 70) and labels.max() <= 10
    assert load_image(tmp_path / "c.png").array.shape == (50, 70, 3)
    enc, _ = api.encode(image, "dsslic", {"qp": 32})
    layer = next(la for la in enc.layers if la.kind == LayerKind.SEMANTIC_MAP)
    carried = decode_layer(layer.codec_id, layer.data)[:50, :70]
    assert np.array_equal(carried, labels)


@pytest.mark.parametrize(("name", "params"), [("menet", {"quality": 3}), ("dsslic", {"qp": 37}),
                                              ("smic", {"qp": 37, "factor": 4})])
def test_segment_from_file_writes_the_map_the_bitstream_carries(name, params, tmp_path,
                                                                capsys):
    """`edms segment --from FILE.edms` decodes the file (verified) and writes the class map
    its decoder derives from the bits: the encoder's segmentation view, pixel for pixel,
    at an odd size. A file that carries none, or no source at all, is a one-line error."""
    from PIL import Image

    from app.cli import main

    image = _image(45, 67, seed=9)
    enc, data = api.encode(image, name, params)
    (tmp_path / "f.edms").write_bytes(data)
    assert main(["segment", "--from", str(tmp_path / "f.edms"), "-o",
                 str(tmp_path / "s.png")]) == 0
    assert f"carried by the {name} " in capsys.readouterr().out
    labels = np.asarray(Image.open(tmp_path / "s.png"))
    np.testing.assert_array_equal(labels, enc.views["segmentation"].array)
    _, hevc = api.encode(image, "hevc", {"qp": 37})
    (tmp_path / "h.edms").write_bytes(hevc)
    for argv in (["segment", "--from", str(tmp_path / "h.edms"), "-o", str(tmp_path / "x.png")],
                 ["segment", "-o", str(tmp_path / "x.png")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()
