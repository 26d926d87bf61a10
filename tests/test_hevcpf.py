"""hevc-pf / hevc-spf: HEVC 4:4:4 + a post-filter with per-block strengths.

Logic tests run with randomly initialised networks written to a temporary models folder
(the ``random_models`` fixture of the layered tests, plus the two HEVC PostNets);
``test_shipped_*`` use the weights in ``models/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from app import api
from app.container import from_bytes, to_bytes
from app.pipelines import registry
from tests.images import synthetic_image as _image
from tests.test_layered import MODELS, random_models  # noqa: F401 - the fixture, reused

SIZES = [(1, 1), (13, 7), (7, 13), (65, 63), (40, 130)]


@pytest.fixture
def hevc_models(request):
    """The layered tests' random networks plus random ``postnet-hevc`` and
    ``postnet-hevc-seg`` (tails and semantic branch not zero, so they act)."""
    from app.nets.postnet import CONFIGS, build_postnet
    from app.train.common import export_safetensors
    from app.train.postnet import VARIANTS

    root = request.getfixturevalue("random_models")
    torch.manual_seed(1)
    for variant in ("hevc", "hevc-seg"):
        stem, keys, _ = VARIANTS[variant]
        net = build_postnet("lite", **keys)
        torch.nn.init.normal_(net.tail.weight, std=0.02)
        if net.sem is not None:
            torch.nn.init.normal_(net.sem.out.weight, std=0.05)
        export_safetensors(net.state_dict(), root, f"{stem}-lite",
                           {"config": {**CONFIGS["lite"], **keys}})
    return root


def _sent_map():
    from app.pipelines.hevcpf import HevcSentMapPostFilterPipeline

    return HevcSentMapPostFilterPipeline()


@pytest.mark.parametrize("name", ["hevc-pf", "hevc-spf", "hevc-spf-map"])
def test_round_trip_bit_exact_at_odd_sizes(hevc_models, name):
    """The decoder rebuilds the encoder's reconstruction; the HEVC layer is plain hevc's."""
    pipe = _sent_map() if name == "hevc-spf-map" else registry.get(name)
    hevc = registry.get("hevc")
    for h, w in SIZES:
        image = _image(h, w, seed=h + w)
        qp = 22 + (h * w) % 20
        enc = pipe.encode(image, {"qp": qp})
        dec, views = pipe.decode_with_views(from_bytes(to_bytes(enc)))
        assert dec.shape == image.shape
        assert np.array_equal(dec, enc.reconstruction), (name, h, w)
        # the decoder shows what the encoder showed (the class map when it ran the filter)
        assert {"before_post_filter", "post_filter_blocks"} <= set(views) <= set(enc.views)
        for key, view in views.items():
            assert np.array_equal(view.array, enc.views[key].array), (name, h, w, key)
        if name == "hevc-spf-map":
            assert "segmentation" in views
        if "segmentation" in views:  # the map the filter saw: the viewer may draw it
            assert views["segmentation"].overlay and enc.views["segmentation"].overlay
        plain = hevc.encode(image, {"qp": qp})
        assert enc.layers[0].data == plain.layers[0].data
        assert enc.layers[0].codec_id == plain.layers[0].codec_id
        kinds = [lay.kind.name for lay in enc.layers]
        sent = ["SEMANTIC_MAP"] if name == "hevc-spf-map" else []
        assert kinds == ["IMAGE", *sent, "SIDE_INFO"]
        assert np.array_equal(enc.views["before_post_filter"].array, plain.reconstruction)
        assert len(enc.model_fingerprint) == 8


def test_blocks_never_worse_than_hevc_and_filter_acts(hevc_models):
    """Per 64x64 block the result is never worse than plain HEVC; the random filter is
    chosen somewhere, and the semantic filter differs from the plain one."""
    from app.pipelines.layered import POST_BLOCK, _block_sse

    image = _image(140, 200, seed=4)
    plain = registry.get("hevc").encode(image, {"qp": 37}).reconstruction
    outs = {}
    for name in ("hevc-pf", "hevc-spf"):
        enc, data = api.encode(image, name, {"qp": 37})
        assert np.array_equal(api.decode(data).image, enc.reconstruction)
        after = _block_sse(image, enc.reconstruction, POST_BLOCK)
        before = _block_sse(image, plain, POST_BLOCK)
        assert (after <= before).all()
        outs[name] = enc
    assert outs["hevc-pf"].model_fingerprint != outs["hevc-spf"].model_fingerprint
    assert "segmentation" in outs["hevc-spf"].views


_FRESH = (
    "import os, sys, hashlib, torch; torch.set_num_threads(int(sys.argv[2]));"
    "from app import api;"
    "d = api.decode(open(sys.argv[1], 'rb').read()).image;"
    "print(hashlib.sha256(d.tobytes()).hexdigest())"
)


@pytest.mark.parametrize("threads", [1, 2])
def test_fresh_process_decodes_identically(hevc_models, tmp_path, threads):
    """A new process with 1 or 2 torch threads decodes hevc-spf (SegNet + PostNet) and
    hevc-pf files to the encoder's reconstruction."""
    import hashlib

    root = str(Path(__file__).resolve().parents[1])
    image = _image(90, 150, seed=9)
    for name in ("hevc-pf", "hevc-spf"):
        enc, data = api.encode(image, name, {"qp": 32})
        path = tmp_path / f"{name}.edms"
        path.write_bytes(data)
        out = subprocess.run([sys.executable, "-c", _FRESH, str(path), str(threads)],
                             capture_output=True, text=True, cwd=root,
                             env={**os.environ, "EDMS_MODELS_DIR": str(hevc_models)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == hashlib.sha256(enc.reconstruction.tobytes()).hexdigest()


def test_damaged_side_info_is_a_clear_error(hevc_models):
    from app.errors import PipelineError
    from app.pipelines.base import Layer, LayerKind

    enc, _ = api.encode(_image(70, 70), "hevc-pf", {"qp": 30})
    side = enc.layers[1]
    from app.codecs import encode_smallest_lossless

    codec_id, data = encode_smallest_lossless(np.zeros((1, 7), np.uint8))
    enc.layers[1] = Layer(LayerKind.SIDE_INFO, codec_id, data)
    with pytest.raises(PipelineError, match="post-filter levels"):
        registry.get("hevc-pf").decode(enc)
    enc.layers[1] = side
    enc.layers.pop(1)
    with pytest.raises(PipelineError, match="side_info"):
        registry.get("hevc-pf").decode(enc)


@pytest.mark.parametrize("name", ["hevc-pf", "hevc-spf"])
def test_shipped_weights_round_trip(name):
    """The shipped HEVC PostNets (a fresh clone has them: no skip) round-trip bit-exactly."""
    for net in ("segnet", "postnet-hevc", "postnet-hevc-seg"):
        assert (MODELS / f"{net}-lite.safetensors").exists(), f"{net}-lite is not shipped"
    image = _image(96, 128, seed=3)
    enc, data = api.encode(image, name, {"qp": 32})
    assert np.array_equal(api.decode(data).image, enc.reconstruction)


@pytest.mark.parametrize("name", ["hevc-pf", "hevc-spf"])
def test_file_carries_the_reconstruction_check(hevc_models, name, monkeypatch):
    """The CHECK layer: a decoder whose filter computes anything else is refused."""
    from app import api
    from app.errors import PipelineError

    image = _image(45, 70, seed=3)
    enc, data = api.encode(image, name, {"qp": 33})
    assert [lay.kind.name for lay in from_bytes(data).layers][-1] == "CHECK"
    assert np.array_equal(api.decode(data).image, enc.reconstruction)
    pipe = registry.get(name)
    real = pipe.decode_with_views

    def drifted(encoded):  # noqa: ANN001, ANN202 - one pixel off, as another float order might
        out, views = real(encoded)
        out = out.copy()
        out[0, 0, 0] ^= 1
        return out, views

    monkeypatch.setattr(pipe, "decode_with_views", drifted)
    with pytest.raises(PipelineError, match="decoded differently from the encoder"):
        api.decode(data)


@pytest.mark.parametrize("views", [1, 2, 4])
def test_self_ensemble_round_trips_at_odd_sizes(hevc_models, views):
    """Every number of filter views decodes to the encoder's reconstruction (the header
    carries ``views``), and more views give a different filter output."""
    pipe = registry.get("hevc-pf")
    for h, w in [(13, 7), (65, 63), (40, 130)]:
        image = _image(h, w, seed=h * w)
        enc = pipe.encode(image, {"qp": 40, "views": views})
        assert enc.params["views"] == views
        dec = pipe.decode(from_bytes(to_bytes(enc)))
        assert np.array_equal(dec, enc.reconstruction), (views, h, w)


def test_four_views_make_the_filter_mirror_equivariant(hevc_models):
    """The filter averaged over the four mirrorings gives the mirror image of its output
    for a mirrored input (up to the last bit of the float sum, so at most 1 in 8 bit);
    one view of the random network does not."""
    from app.pipelines.postfilter import shared_post_filter

    post = shared_post_filter("lite", "cpu", "postnet-hevc")
    x = _image(64, 96, seed=5)  # even sizes: no one-sided padding
    for views, equivariant in ((4, True), (1, False)):
        y = post(x, None, 40, None, views).astype(int)
        for axis in (0, 1):
            ym = post(np.ascontiguousarray(np.flip(x, axis)), None, 40, None, views)
            diff = np.abs(np.flip(ym, axis).astype(int) - y).max()
            assert (diff <= 1) == equivariant, (views, axis, diff)


def test_files_without_views_decode_with_one_and_bad_views_are_refused(hevc_models):
    """A file of an earlier version has no ``views``: the decoder runs one view, as its
    encoder did; a header with a number of views the filter has not is a clear error."""
    from app.errors import PipelineError

    pipe = registry.get("hevc-pf")
    image = _image(50, 70, seed=8)
    enc = pipe.encode(image, {"qp": 36, "views": 1})
    del enc.params["views"]
    assert np.array_equal(pipe.decode(from_bytes(to_bytes(enc))), enc.reconstruction)
    enc.params["views"] = 3
    with pytest.raises(PipelineError, match="filter views must be one of 1/2/4, got 3"):
        pipe.decode(enc)
    with pytest.raises(PipelineError, match="one of 1/2/4"):
        pipe.encode(image, {"qp": 36, "views": 3})


def test_views_in_parallel_equal_views_one_after_another(hevc_models, monkeypatch):
    """The views of a one-tile image run on several threads; the result is the serial one
    bit for bit (each view alone on one intra-op thread, summed in a fixed order)."""
    from app.pipelines import postfilter

    post = postfilter.shared_post_filter("lite", "cpu", "postnet-hevc")
    x = _image(77, 51, seed=12)
    outs = []
    for workers in (1, 2, 4):
        monkeypatch.setattr(postfilter, "TILE_WORKERS", workers)
        outs.append(post(x, None, 30, None, 4))
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])
