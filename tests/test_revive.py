"""Reviving dead latent channels (app.train.revive) and the trainer's --revive/--warmup."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from app.nets import hyperprior as hp
from app.train.revive import active_fraction, dead_channels, rate_weights, revive_channels
from tests.test_nets import _fake_camvid


def _model_with_dead_channels(dead: list[int]) -> hp.ScaleHyperprior:
    """A small hyperprior whose channels ``dead`` look like RD training left them: tiny
    producer rows, tiny gains, zero consumers."""
    torch.manual_seed(0)
    model = hp.ScaleHyperprior(N=16, M=24).eval()
    with torch.no_grad():
        model.gains.gain.fill_(100.0)  # every other channel clearly alive
        model.g_a.convs[-1].weight[dead] *= 1e-3
        model.gains.gain[:, dead] = 1e-3
        model.g_s[0].weight[dead] = 0.0
    return model


def test_dead_channels_are_found_and_revived_the_rest_untouched() -> None:
    dead = [1, 5, 6, 20]
    model = _model_with_dead_channels(dead)
    x = [torch.rand(2, 3, 64, 64)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fraction = active_fraction(model, x, quality=model.gains.qualities - 1)
    found = dead_channels(fraction, 0.01)
    assert found.tolist() == dead
    revive_channels(model, found, seed=3)
    after = model.state_dict()
    live = [c for c in range(24) if c not in dead]
    # live channels keep every weight they had
    assert torch.equal(after["g_a.convs.3.weight"][live], before["g_a.convs.3.weight"][live])
    assert torch.equal(after["g_s.0.weight"][live], before["g_s.0.weight"][live])
    assert torch.equal(after["gains.gain"][:, live], before["gains.gain"][:, live])
    # the revived ones carry information again ...
    assert bool((active_fraction(model, x, model.gains.qualities - 1)[dead] > 0.05).all())
    # ... but neither the synthesis nor ẑ reads them yet: the decoded image is unchanged
    assert float(after["g_s.0.weight"][dead].abs().sum()) == 0.0
    assert float(after["h_a.0.weight"][:, dead].abs().sum()) == 0.0
    twin = _model_with_dead_channels(dead)
    for q in (0.0, 4.5, 9.0):
        with torch.no_grad():
            a, b = twin(x[0], torch.tensor([q] * 2)), model(x[0], torch.tensor([q] * 2))
        assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-6)
    # deterministic (every process of a distributed run revives alike)
    twin = _model_with_dead_channels(dead)
    revive_channels(twin, torch.tensor(dead), seed=3)
    assert all(torch.equal(v, twin.state_dict()[k]) for k, v in after.items())


def test_revive_refuses_what_cannot_be_done() -> None:
    model = hp.ScaleHyperprior(N=16, M=8)
    with pytest.raises(ValueError, match="no live channel"):
        revive_channels(model, torch.arange(8))
    with pytest.raises(ValueError, match="must lie in"):
        revive_channels(model, torch.tensor([8]))
    with pytest.raises(ValueError, match="threshold"):
        dead_channels(torch.zeros(8), 0.0)


def test_rate_weights_ramp_the_revived_channels_in() -> None:
    revived = torch.tensor([0, 3])
    assert rate_weights(4, revived, 0, 100).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert rate_weights(4, revived, 25, 100).tolist() == [0.25, 1.0, 1.0, 0.25]
    assert rate_weights(4, revived, 100, 100).tolist() == [1.0] * 4
    assert rate_weights(4, revived, 5, 0).tolist() == [1.0] * 4


def test_weighted_bits_weigh_each_latent_channel() -> None:
    y = torch.rand(2, 3, 4, 4).clamp_min(0.01)
    z = torch.rand(2, 5, 2, 2).clamp_min(0.01)
    lik = hp.Likelihoods(y, z)
    assert torch.allclose(lik.per_sample_bits(torch.ones(3)), lik.per_sample_bits())
    w = torch.tensor([0.0, 1.0, 0.5])
    y_bits = -torch.log2(y).sum((2, 3))
    expected = (y_bits * w).sum(1) - torch.log2(z).flatten(1).sum(1)
    assert torch.allclose(lik.per_sample_bits(w), expected)


def test_trainer_revives_and_warms_up(tmp_path) -> None:
    """``edms train hyperprior --init --revive`` runs, resumes its ramp and says what it did
    in the manifest; MENet and a missing --init are refused."""
    from app.train import train_main

    data = tmp_path / "camvid"
    _fake_camvid(data, size=(72, 64))
    trained = hp.ScaleHyperprior.from_config(hp.CONFIGS["lite"])
    with torch.no_grad():  # half of y dead
        trained.gains.gain[:, ::2] = 1e-4
    init = tmp_path / "trained.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(init))
    common = ["--data", str(data), "--val-every", "1", "--batch", "2", "--crop", "64",
              "--val-frames", "1", "--threads", "1", "--device", "cpu", "--warmup", "2",
              "--run-dir", str(tmp_path / "r"), "--out", str(tmp_path / "out")]
    assert train_main(["hyperprior", *common, "--iters", "2", "--init", str(init),
                       "--revive", "0.01", "--revive-ramp", "10"]) == 0
    ck = torch.load(tmp_path / "r" / "last.pt", weights_only=False)
    assert len(ck["revived"]) >= trained.M // 2 and ck["revive_ramp"] == 10
    man = json.loads((tmp_path / "out" / "hyperprior-lite.json").read_text())
    assert man["revived"].startswith(f"{len(ck['revived'])} dead channels")
    # resumed: the same channels, the ramp goes on
    assert train_main(["hyperprior", *common, "--iters", "3", "--resume",
                       "--revive", "0.01"]) == 0
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=False)["revived"] == ck["revived"]
    with pytest.raises(SystemExit, match="only for the hyperprior"):
        train_main(["menet", *common, "--iters", "1", "--init", str(init), "--revive", "0.01"])
    with pytest.raises(SystemExit, match="needs --init"):
        train_main(["hyperprior", *common, "--iters", "1", "--revive", "0.01"])
    with pytest.raises(SystemExit):
        train_main(["hyperprior", *common, "--iters", "1", "--revive", "1.5"])
