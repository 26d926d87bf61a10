"""The checkerboard context with means (app.nets.checkerboard) in the learned codecs: the
decoder's two passes rebuild exactly what the encoder coded, with means and refined
scales far from the hyperprior's, at odd sizes; a decoder whose context differs is caught;
the tables; and ``edms train ... --entropy-only``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from app import api
from app.container import from_bytes, to_bytes
from app.entropy.models import PMF_BITS, GaussianConditional
from app.errors import PipelineError
from app.nets import hyperprior as hp
from app.nets import menet as mn
from app.nets.checkerboard import MEAN_STEPS, CheckerboardParameters, anchor_mask
from app.pipelines.base import LayerKind


def _randomise(cb: CheckerboardParameters, seed: int) -> None:
    """Make the entropy parameters depend visibly on the context: means of a few units
    and scales off the hyperprior's by up to e^±1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cb.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
        last = cb.params[-1]
        last.bias[: cb.channels].uniform_(-1.0, 1.0, generator=g)
        last.bias[cb.channels:].uniform_(-3.0, 3.0, generator=g)


def _small_pipelines() -> dict[str, object]:
    from app.pipelines.endtoend import HyperpriorPipeline
    from app.pipelines.menet import MenetNoEnhancePipeline, MenetPipeline

    torch.manual_seed(0)
    hyper = hp.ScaleHyperprior(N=16, M=24, Nh=16, context=32, groups=4)
    _randomise(hyper.checkerboard, 1)
    torch.manual_seed(0)
    plain = hp.ScaleHyperprior(N=16, M=24, Nh=16, context=32)  # no channel groups
    _randomise(plain.checkerboard, 3)
    torch.manual_seed(0)
    no_context = hp.ScaleHyperprior(N=16, M=24, Nh=16)  # the plain scale hyperprior
    torch.manual_seed(0)
    # 3 groups of 8, 8, 16 over y's 24 and ẑ_s's 8 channels: the semantic layer has
    # channels in the last group only
    me = mn.MENet(N=16, M=24, Ms=8, S=16, E=8, R=1, Nh=16, context=32, groups=3)
    _randomise(me.checkerboard, 2)
    return {"hyperprior": HyperpriorPipeline(hyper, b"cbrandom"),
            "hyperprior-1group": HyperpriorPipeline(plain, b"cbrando3"),
            "hyperprior-nocontext": HyperpriorPipeline(no_context, b"cbrando4"),
            "menet": MenetPipeline(me, b"cbrando2"),
            "menet-noenh": MenetNoEnhancePipeline(me, b"cbrando2")}


@pytest.fixture(scope="module")
def pipelines() -> dict[str, object]:
    return _small_pipelines()


def test_anchor_mask_is_a_checkerboard() -> None:
    m = anchor_mask(3, 4)[0, 0]
    assert m.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]]


def test_an_untrained_context_is_the_plain_scale_hyperprior() -> None:
    """Zero-initialised last layer: σ unchanged, μ = 0, so trained scale-hyperprior weights
    start as exactly that codec."""
    torch.manual_seed(3)
    with_cb = hp.ScaleHyperprior(N=16, M=24, context=32).eval()
    plain = hp.ScaleHyperprior(N=16, M=24).eval()
    plain.load_state_dict({k: v for k, v in with_cb.state_dict().items()
                           if not k.startswith("checkerboard.")})
    x = torch.rand(1, 3, 64, 128)
    q = torch.tensor([3.0])
    a, b = with_cb(x, q), plain(x, q)
    assert torch.equal(a["likelihoods"].y, b["likelihoods"].y)
    assert torch.equal(a["x_hat"], b["x_hat"])


def test_anchors_see_no_context_and_non_anchors_only_anchors() -> None:
    torch.manual_seed(4)
    cb = CheckerboardParameters(6, 8)
    _randomise(cb, 5)
    sigma = torch.rand(1, 6, 7, 9) + 0.2
    y = torch.randn(1, 6, 7, 9) * 3
    s1, m1 = cb.both_passes(sigma, y)
    mask = anchor_mask(7, 9).bool().expand_as(y)
    y2 = torch.where(mask, y, torch.randn_like(y) * 10)  # other non-anchors
    s2, m2 = cb.both_passes(sigma, y2)
    assert torch.equal(s1, s2) and torch.equal(m1, m2)
    s3, m3 = cb.both_passes(sigma, torch.where(mask, y + 1, y))  # other anchors
    non = ~mask
    assert torch.equal(s3[mask], s1[mask]) and torch.equal(m3[mask], m1[mask])
    assert not torch.equal(m3[non], m1[non])


def test_mean_tables() -> None:
    gc = GaussianConditional()
    tabs = gc.mean_tables(MEAN_STEPS)
    assert len(tabs) == 64 * MEAN_STEPS
    assert all(int(f.sum()) == 1 << PMF_BITS and f.min() >= 1 for f, _ in tabs)
    # one step per unit: the zero-mean tables of the plain hyperprior, symmetric about 0
    # (up to the unit the quantisation hands to the first of equal symbols)
    for f in gc.tables():
        assert np.abs(f[:-1] - f[:-1][::-1]).max() <= 1
    # the table of a mean of half a unit is symmetric about +1/2
    f, off = tabs[20 * MEAN_STEPS + MEAN_STEPS // 2]
    body = f[:-1]
    assert off == -(body.size - 2) // 2 and np.abs(body - body[::-1]).max() <= 1
    assert body[-off] == body.max() and body[-off + 1] - body[-off] <= 1


SIDES = st.one_of(st.integers(1, 70), st.sampled_from([127, 128, 129, 255, 257]))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=SIDES, w=SIDES,
       name=st.sampled_from(["hyperprior", "hyperprior-1group", "hyperprior-nocontext",
                             "menet", "menet-noenh"]),
       quality=st.integers(1, 10))
def test_round_trip_with_context_and_means(pipelines, h: int, w: int, name: str,
                                           quality: int) -> None:
    p = pipelines[name]
    image = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    coded = api.code(p, p.prepare(image), {"quality": quality})
    back, _ = api.decode_checked(p, coded.data, coded.encoded.reconstruction)
    assert np.array_equal(back, coded.encoded.reconstruction), (name, h, w)
    parsed = from_bytes(coded.data)
    parsed = dataclasses.replace(parsed, layers=[la for la in parsed.layers
                                                 if la.kind != LayerKind.CHECK])
    _, views = p.decode_with_views(parsed)
    assert views["bits"].array.shape == ((h + 15) // 16, (w + 15) // 16)
    assert np.array_equal(views["bits"].array, coded.encoded.views["bits"].array)


def test_round_trip_in_tiles(pipelines) -> None:
    p = pipelines["menet"]
    image = np.random.default_rng(1).integers(0, 256, (1037, 70, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 5})
    assert np.array_equal(p.decode(from_bytes(to_bytes(enc))), enc.reconstruction)


def test_the_context_shapes_the_probabilities(pipelines) -> None:
    """The file is coded with the context's parameters: with it zeroed (the plain
    hyperprior's) the same latent codes to other bytes."""
    p = pipelines["hyperprior"]
    image = np.random.default_rng(2).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    a = p.encode(image, {"quality": 6})
    cb = p.model.checkerboard
    saved = {k: v.clone() for k, v in cb.state_dict().items()}
    try:
        with torch.no_grad():
            cb.params[-1].weight.zero_()
            cb.params[-1].bias.zero_()
        b = p.encode(image, {"quality": 6})
    finally:
        cb.load_state_dict(saved)
    assert np.array_equal(a.reconstruction, b.reconstruction)  # the means move no pixel
    assert a.layers[1].data != b.layers[1].data


@pytest.mark.parametrize("which", ["spatial", "channel"])
def test_a_decoder_with_another_context_is_caught(pipelines, monkeypatch, which: str) -> None:
    """The decoder's means off by one step where a context is seen (the non-anchors'
    spatial context, or the channel context of the groups after the first): an error,
    never a wrong image."""
    p = pipelines["menet"]
    image = np.random.default_rng(3).integers(0, 256, (50, 61, 3), dtype=np.uint8)
    coded = api.code(p, p.prepare(image), {"quality": 4})
    cb = p.model.checkerboard
    real_base, real_group = type(cb).base, type(cb).group_params
    if which == "spatial":
        def base(self, sigma_h, context):  # noqa: ANN001, ANN202
            out = real_base(self, sigma_h, context)
            return out if context is None else out + 0.5

        monkeypatch.setattr(type(cb), "base", base)
    else:
        def group_params(self, sigma_h, base, before, k):  # noqa: ANN001, ANN202
            s, m = real_group(self, sigma_h, base, before, k)
            return s, m + (0.0 if before is None else 1.0 / MEAN_STEPS)

        monkeypatch.setattr(type(cb), "group_params", group_params)
    with pytest.raises(PipelineError, match="decoded differently|latent stream is damaged"):
        api.decode_checked(p, coded.data, None)


def test_latent_layer_with_extra_or_missing_words_is_an_error(pipelines) -> None:
    """A LATENT layer is one stream of all its coding steps: a word more or less is
    refused, never decoded into a silently wrong latent."""
    p = pipelines["hyperprior"]
    image = np.random.default_rng(4).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 3})
    good = enc.layers[1]
    for data in (good.data + b"\x01\x00\x00\x00", good.data[:-4], good.data[:-1]):
        enc.layers[1] = type(good)(good.kind, good.codec_id, data)
        with pytest.raises(PipelineError):
            p.decode(enc)


@pytest.mark.parametrize("net", ["hyperprior", "menet"])
def test_entropy_only_training_keeps_the_transforms(tmp_path, net: str) -> None:
    """``--entropy-only`` changes the entropy model alone: every other tensor (MENet's batch
    norm statistics included) is the init's, the manifest says so; it refuses to run
    without --init or with --revive."""
    from safetensors.torch import load_file

    from app.train import train_main
    from app.train.e2e import ENTROPY_MODEL
    from tests.test_revive import _fake_camvid

    data = tmp_path / "camvid"
    _fake_camvid(data, size=(72, 64))
    trained = (hp.ScaleHyperprior.from_config(hp.CONFIGS["lite"]) if net == "hyperprior"
               else mn.MENet.from_config(mn.CONFIGS["lite"]))
    init = tmp_path / "trained.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()
               if not k.startswith("checkerboard.")}, str(init))
    common = ["--data", str(data), "--val-every", "2", "--batch", "2", "--crop", "64",
              "--val-frames", "1", "--threads", "1", "--device", "cpu",
              "--run-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out")]
    assert train_main([net, *common, "--iters", "2", "--init", str(init),
                       "--entropy-only", "--lr", "1e-2"]) == 0
    out = load_file(str(tmp_path / "out" / f"{net}-lite.safetensors"))
    before = {k: v.half().float() if v.is_floating_point() else v
              for k, v in trained.state_dict().items()}
    for k, v in out.items():
        if not k.startswith(ENTROPY_MODEL):
            assert torch.equal(v.float() if v.is_floating_point() else v, before[k]), k
    assert any(not torch.equal(v.float(), before[k])
               for k, v in out.items() if k.startswith("checkerboard."))
    man = json.loads((tmp_path / "out" / f"{net}-lite.json").read_text())
    assert man["frozen"].startswith("everything but the entropy model")
    assert "log bpp" in man["loss"]
    with pytest.raises(SystemExit, match="needs --init"):
        train_main([net, *common, "--iters", "1", "--entropy-only"])
    with pytest.raises(SystemExit, match="not with --revive, --widen"):
        train_main([net, *common, "--iters", "1", "--init", str(init),
                    "--entropy-only", "--revive", "0.01"])


def test_entropy_only_refuses_torchrun(monkeypatch) -> None:
    from app.train import train_main

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit, match="one process"):
        train_main(["hyperprior", "--data", "nowhere", "--init", "w.safetensors",
                    "--entropy-only"])


def test_widening_restarts_the_context_from_the_plain_hyperprior() -> None:
    from app.train.widen import widen_state

    narrow = hp.ScaleHyperprior(N=16, M=24, context=8)
    _randomise(narrow.checkerboard, 6)
    wide = hp.ScaleHyperprior(N=16, M=40, context=8)
    widen_state(wide, narrow.state_dict())  # no error on the context's shapes
    assert torch.equal(wide.g_s[0].weight[:24], narrow.g_s[0].weight)
    # the context is not widened: it is left as built (zero last layer: the plain prior)
    assert not wide.checkerboard.params[-1].weight.any()
    assert not wide.checkerboard.params[-1].bias.any()


def test_bands_compute_what_the_whole_latent_does(pipelines, monkeypatch) -> None:
    """The entropy parameters computed over bands of latent rows (with the context's
    halo) are those of the whole latent: the band size changes no table choice (but for
    the odd float rounding at a bucket boundary)."""
    from app.pipelines import endtoend

    p = pipelines["menet"]
    rng = torch.Generator().manual_seed(8)
    c = sum(p.part_channels())
    sigma_h = torch.rand(1, c, 37, 23, generator=rng) * 5 + 0.05
    lat = torch.round(torch.randn(1, c, 37, 23, generator=rng) * 4)
    out = {}
    for band in (4, 6, 1000):
        monkeypatch.setattr(endtoend, "BAND", band)
        idx, shift = p._new_coding(sigma_h)
        bases: dict = {}
        for unit in p._units():
            p._fill_coding(sigma_h, lat, unit, idx, shift, bases)
        out[band] = (idx, shift)
    for band in (4, 6):
        for a, b in zip(out[band], out[1000], strict=True):
            assert np.mean(a == b) > 0.999, band


def test_channel_group_sizes() -> None:
    from app.nets.checkerboard import group_sizes

    assert group_sizes(320, 5) == [20, 20, 40, 80, 160]  # ELIC's 16, 16, 32, 64, 192 shape
    assert group_sizes(384, 5) == [24, 24, 48, 96, 192]
    assert group_sizes(416, 5) == [26, 26, 52, 104, 208]
    assert group_sizes(24, 1) == [24] and group_sizes(24, 2) == [12, 12]
    with pytest.raises(ValueError, match="cannot make"):
        group_sizes(3, 5)


def test_a_group_sees_only_what_the_decoder_has_decoded_before_it() -> None:
    """Group k of a pass: unchanged by the values of the groups from k on at that pass's
    positions (and, for the anchors, by every non-anchor); changed by the groups before."""
    torch.manual_seed(9)
    cb = CheckerboardParameters(12, 8, groups=3)  # groups of 3, 3, 6 channels
    _randomise(cb, 10)
    assert cb.starts == [0, 3, 6, 12]
    sigma = torch.rand(1, 12, 7, 9) + 0.2
    y = torch.round(torch.randn(1, 12, 7, 9) * 3)
    s1, m1 = cb.both_passes(sigma, y)
    anchors = anchor_mask(7, 9).bool().expand_as(y)
    chan = torch.arange(12).view(1, -1, 1, 1).expand_as(y)
    for k, (c0, c1) in enumerate([(0, 3), (3, 6), (6, 12)]):
        in_k = (chan >= c0) & (chan < c1)
        for pos in (anchors, ~anchors):
            later = pos & (chan >= c0)  # this pass, this group and the ones after
            if pos is anchors:
                later = later | ~anchors  # and every non-anchor
            y2 = torch.where(later, y + 5, y)
            s2, m2 = cb.both_passes(sigma, y2)
            sel = in_k & pos
            assert torch.equal(s2[sel], s1[sel]) and torch.equal(m2[sel], m1[sel]), k
            if k:  # the groups before k at this pass's positions do count
                y3 = torch.where(pos & (chan < c0), y + 5, y)
                _, m3 = cb.both_passes(sigma, y3)
                assert not torch.equal(m3[sel], m1[sel]), k


def test_an_untrained_channel_context_is_the_checkerboard_alone() -> None:
    """Zero-initialised channel context: a model with groups starts as the same weights
    without them (so --init from a one-group model starts where it was)."""
    torch.manual_seed(11)
    one = CheckerboardParameters(12, 8)
    _randomise(one, 12)
    grouped = CheckerboardParameters(12, 8, groups=3)
    missing, unexpected = grouped.load_state_dict(one.state_dict(), strict=False)
    assert missing == ["channel_context.weight"] and not unexpected
    sigma = torch.rand(1, 12, 6, 5) + 0.2
    y = torch.round(torch.randn(1, 12, 6, 5) * 3)
    for a, b in zip(one.both_passes(sigma, y), grouped.both_passes(sigma, y), strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_codec_codes_with_the_parameters_training_optimises(pipelines) -> None:
    """The pipeline's step-by-step parameters (passes, groups, bands) are those of
    both_passes, the training path: the tables and shifts agree (but for the odd float
    rounding at a bucket boundary)."""
    from app.entropy.models import scale_indices

    p = pipelines["menet"]
    cb = p.model.checkerboard
    rng = torch.Generator().manual_seed(13)
    c = sum(p.part_channels())
    sigma_h = torch.rand(1, c, 21, 17, generator=rng) * 5 + 0.05
    lat = torch.round(torch.randn(1, c, 21, 17, generator=rng) * 4)
    idx, shift = p._new_coding(sigma_h)
    bases: dict = {}
    for unit in p._units():
        p._fill_coding(sigma_h, lat, unit, idx, shift, bases)
    with torch.no_grad():
        sigma, mean = cb.both_passes(sigma_h, lat)
    steps = torch.round(mean[0] * MEAN_STEPS).to(torch.int64)
    want_shift = torch.div(steps, MEAN_STEPS, rounding_mode="floor")
    want_idx = scale_indices(sigma)[0] * MEAN_STEPS + (steps - want_shift * MEAN_STEPS)
    assert np.mean(idx == want_idx.numpy()) > 0.999
    assert np.mean(shift == want_shift.numpy()) > 0.999


def test_round_trip_without_a_context_model(pipelines) -> None:
    """Weights without a context (context = 0): one stream per latent layer, zero means."""
    p = pipelines["hyperprior-nocontext"]
    assert p._units() == [(-1, 0)]
    image = np.random.default_rng(14).integers(0, 256, (45, 83, 3), dtype=np.uint8)
    coded = api.code(p, p.prepare(image), {"quality": 7})
    back, _ = api.decode_checked(p, coded.data, coded.encoded.reconstruction)
    assert np.array_equal(back, coded.encoded.reconstruction)
    assert coded.encoded.views["bits"].array.shape == (3, 6)
