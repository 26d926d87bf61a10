"""Growing a trained latent (app.train.widen), grafting a hyperprior into MENet
(app.train.graft) and the straight-through decoder input of the end-to-end nets."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from app.nets import hyperprior as hp
from app.nets import menet as mn
from app.train.graft import graft_hyperprior
from app.train.widen import widen_state
from tests.test_nets import _fake_camvid


def _perturbed(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A state that is not the default initialisation (trained-looking GDN and gains)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def test_widening_the_hyperprior_keeps_its_reconstruction() -> None:
    torch.manual_seed(0)
    narrow = hp.ScaleHyperprior(N=16, M=24).eval()
    state = _perturbed(narrow, 1)
    wide = hp.ScaleHyperprior(N=16, M=40).eval()
    grown = widen_state(wide, state)
    assert {"g_a.convs.3.weight", "g_s.0.weight", "h_a.0.weight", "gains.gain"} <= set(grown)
    x = torch.rand(1, 3, 64, 128)
    for q in (0.0, 2.5, 7.0):
        a, b = narrow(x, torch.tensor([q])), wide(x, torch.tensor([q]))
        assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5)
    # the old channels sit where they were; the consumers ignore the new ones
    assert torch.equal(wide.g_a.convs[3].weight[:24], state["g_a.convs.3.weight"])
    assert float(wide.g_s[0].weight[24:].detach().abs().sum()) == 0.0
    assert float(wide.h_a[0].weight[:, 24:].detach().abs().sum()) == 0.0


def test_widening_menet_moves_the_semantic_latent_after_the_grown_y() -> None:
    torch.manual_seed(0)
    cfg = {"N": 16, "M": 24, "Ms": 8, "S": 16, "E": 8, "R": 1}
    narrow = mn.MENet(**cfg).eval()
    state = _perturbed(narrow, 2)
    wide = mn.MENet(**{**cfg, "M": 40}).eval()
    widen_state(wide, state)
    x = torch.rand(1, 3, 64, 64)
    a, b = narrow(x, torch.tensor([3.0])), wide(x, torch.tensor([3.0]))
    for key in ("x_hat", "seg", "x_enh"):
        assert torch.allclose(a[key], b[key], atol=1e-4), key
    assert torch.equal(wide.h_s[4].weight[40:], state["h_s.4.weight"][24:])
    assert torch.equal(wide.gains.gain[:, 40:], state["gains.gain"][:, 24:])


def test_widening_the_transforms_keeps_reconstruction_and_bits() -> None:
    torch.manual_seed(0)
    narrow = hp.ScaleHyperprior(N=16, M=24).eval()
    state = _perturbed(narrow, 3)
    wide = hp.ScaleHyperprior(N=24, M=24, Nh=16).eval()
    grown = widen_state(wide, state)
    assert {"g_a.convs.1.weight", "g_a.gdns.1.gamma", "g_s.2.weight", "g_s.6.weight"} <= set(grown)
    assert not any(k.startswith(("h_a.", "h_s.", "entropy_bottleneck.")) for k in grown)
    x = torch.rand(1, 3, 64, 128)
    for q in (0.0, 4.0):
        a, b = narrow(x, torch.tensor([q])), wide(x, torch.tensor([q]))
        assert torch.allclose(a["x_hat"], b["x_hat"], atol=1e-5)
        assert torch.allclose(a["likelihoods"].bits(), b["likelihoods"].bits(), rtol=1e-5)
    # old output channels ignore the new input channels, which still get a gradient
    assert float(wide.g_a.convs[1].weight[:16, 16:].detach().abs().sum()) == 0.0
    assert float(wide.g_s[6].weight[16:].detach().abs().sum()) == 0.0
    wide.train()
    out = wide(x, torch.tensor([4]))
    ((out["x_hat"] - x) ** 2).mean().backward()
    assert float(wide.g_s[6].weight.grad[16:].abs().sum()) > 0.0


def test_widening_menet_transforms_and_latent_together() -> None:
    torch.manual_seed(0)
    cfg = {"N": 16, "M": 24, "Ms": 8, "S": 16, "E": 8, "R": 1}
    narrow = mn.MENet(**cfg).eval()
    state = _perturbed(narrow, 4)
    wide = mn.MENet(**{**cfg, "N": 24, "M": 40, "Nh": 16}).eval()
    grown = widen_state(wide, state)
    assert "aggregation.blocks.0.proj.weight" in grown
    x = torch.rand(1, 3, 64, 64)
    a, b = narrow(x, torch.tensor([3.0])), wide(x, torch.tensor([3.0]))
    for key in ("x_hat", "seg", "x_enh"):
        assert torch.allclose(a[key], b[key], atol=1e-4), key


def test_widening_refuses_what_does_not_fit() -> None:
    state = hp.ScaleHyperprior(N=16, M=24).state_dict()
    with pytest.raises(ValueError, match="narrower"):
        widen_state(hp.ScaleHyperprior(N=16, M=16), state)
    with pytest.raises(ValueError, match="hyper transforms' width does not widen"):
        widen_state(hp.ScaleHyperprior(N=24, M=40), state)
    cfg = {"N": 16, "M": 24, "Ms": 8, "S": 16, "E": 8, "R": 1}
    with pytest.raises(ValueError, match="does not widen"):  # the semantic latent grows
        widen_state(mn.MENet(**{**cfg, "Ms": 12}), mn.MENet(**cfg).state_dict())


def test_graft_gives_menet_the_hyperprior_image_path() -> None:
    torch.manual_seed(0)
    hyper = hp.ScaleHyperprior(N=16, M=24).eval()
    hstate = _perturbed(hyper, 3)
    menet = mn.MENet(N=16, M=24, Ms=8, S=16, E=8, R=1).eval()
    before = {k: v.clone() for k, v in menet.state_dict().items()}
    copied = graft_hyperprior(menet, hstate)
    assert "g_s.0.weight" in copied and "entropy_bottleneck.matrices.0" in copied
    x = torch.rand(1, 3, 64, 64)
    q = torch.tensor([5.0])
    assert torch.allclose(hyper(x, q)["x_hat"], menet(x, q)["x_hat"], atol=1e-6)
    # z_s keeps MENet's own slices and modules
    assert torch.equal(menet.h_s[4].weight[24:], before["h_s.4.weight"][24:])
    assert torch.equal(menet.gains.gain[:, 24:], before["gains.gain"][:, 24:])
    assert torch.equal(menet.seg_decoder.body[0].weight, before["seg_decoder.body.0.weight"])
    assert float(menet.h_a[0].weight[:, 24:].detach().abs().sum()) == 0.0
    with pytest.raises(ValueError):
        graft_hyperprior(mn.MENet(N=16, M=32, Ms=8, S=16, E=8, R=1), hstate)


def test_frozen_base_trains_only_the_semantic_side() -> None:
    from app.train.graft import freeze_base

    torch.manual_seed(0)
    menet = mn.MENet(N=16, M=24, Ms=8, S=16, E=8, R=1).train()
    learning = freeze_base(menet)
    assert not any(n.startswith(("g_a.", "g_s.")) for n in learning)
    before = {k: v.clone() for k, v in menet.state_dict().items()}
    opt = torch.optim.Adam([p for p in menet.parameters() if p.requires_grad], lr=1e-2)
    out = menet(torch.rand(2, 3, 64, 64), torch.tensor([2.0, 5.0]))
    loss = out["likelihoods"].bits() / 4096 + out["x_enh"].pow(2).mean() + out["seg"].mean()
    loss.backward()
    opt.step()
    after = menet.state_dict()
    assert torch.equal(after["g_a.convs.0.weight"], before["g_a.convs.0.weight"])
    for name, d in (("h_s.4.weight", 0), ("h_a.0.weight", 1), ("gains.gain", 1)):
        assert torch.equal(after[name].narrow(d, 0, 24), before[name].narrow(d, 0, 24)), name
        assert not torch.equal(after[name].narrow(d, 24, 8), before[name].narrow(d, 24, 8)), name
    assert not torch.equal(after["seg_decoder.body.0.weight"], before["seg_decoder.body.0.weight"])


def test_training_decodes_rounded_latents_with_straight_through_gradients() -> None:
    torch.manual_seed(0)
    model = hp.ScaleHyperprior(N=16, M=24).train()
    x = torch.rand(2, 3, 64, 64)
    q = torch.tensor([1.0, 6.0])
    out = model(x, q)
    gain, inv_gain = model.gains(q)
    y = model.g_a(x)[0] * gain
    assert torch.allclose(out["x_hat"], model.g_s(torch.round(y) * inv_gain), atol=1e-5)
    out["x_hat"].pow(2).mean().backward()
    assert float(model.g_a.convs[0].weight.grad.abs().sum()) > 0


def test_trainer_widens_and_grafts(tmp_path) -> None:
    """``edms train hyperprior --init --widen`` and ``edms train menet --graft`` run and
    say so in the manifest."""
    from app.train import train_main

    data = tmp_path / "camvid"
    _fake_camvid(data, size=(72, 64))
    narrow = hp.ScaleHyperprior(N=64, M=128, qualities=8)  # and the eight-rung λ ladder
    init = tmp_path / "narrow.safetensors"
    save_file({k: v.contiguous() for k, v in narrow.state_dict().items()}, str(init))
    common = ["--data", str(data), "--iters", "1", "--val-every", "1", "--batch", "2",
              "--crop", "64", "--val-frames", "1", "--threads", "1", "--device", "cpu"]
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="no manifest beside it"):
        train_main(["hyperprior", *common, "--init", str(init), "--widen",
                    "--run-dir", str(tmp_path / "r0"), "--out", str(out)])
    init.with_suffix(".json").write_text(json.dumps({"lambdas": list(hp.LAMBDAS[2:])}))
    assert train_main(["hyperprior", *common, "--init", str(init), "--widen",
                       "--run-dir", str(tmp_path / "r1"), "--out", str(out)]) == 0
    man = json.loads((out / "hyperprior-lite.json").read_text())
    assert "latent widened: True" in man["init"]
    assert man["config"]["M"] == hp.CONFIGS["lite"]["M"]
    assert man["lambdas"] == list(hp.LAMBDAS)
    # validation rows are keyed by the user-facing quality (1-based), as `-q` takes it
    assert {f"quality{q + 1}" for q in hp.VALIDATION_QUALITIES} <= set(man["validation"])
    assert train_main(["menet", *common, "--graft", str(out / "hyperprior-lite.safetensors"),
                       "--freeze-base",
                       "--run-dir", str(tmp_path / "r2"), "--out", str(out)]) == 0
    man = json.loads((out / "menet-lite.json").read_text())
    assert man["graft"] == "hyperprior-lite.safetensors" and man["frozen"]


def test_extend_qualities_keeps_the_trained_rows_and_extrapolates_geometrically() -> None:
    """A model trained on the eight-rung ladder, mapped onto the current one: the shared λ
    keep their rows (same latent, same bits at those qualities); a rung below follows the
    gain's trend in log λ, so λ half as large gets a gain scaled like the last step's."""
    from app.train.widen import extend_qualities

    old = hp.LAMBDAS[2:]
    assert len(old) == 8 and old[0] == 0.0018
    torch.manual_seed(4)
    narrow = hp.ScaleHyperprior(N=16, M=24, qualities=8).eval()
    state = _perturbed(narrow, 5)
    state["gains.gain"][0] = -state["gains.gain"][0]  # the sign is not used: |g|
    new = extend_qualities(state, old, hp.LAMBDAS)
    for key in ("gains.gain", "gains.inv_gain"):
        assert new[key].shape == (10, 24)
        assert torch.allclose(new[key][2:], state[key].abs())
        lo, nxt = state[key].abs()[0].double().log(), state[key].abs()[1].double().log()
        step = (torch.log(torch.tensor(0.0009 / 0.0018, dtype=torch.float64))
                / torch.log(torch.tensor(0.0035 / 0.0018, dtype=torch.float64)))
        assert torch.allclose(new[key][1].double().log(), lo + step * (nxt - lo), atol=1e-5)
    assert all(torch.equal(new[k], v) for k, v in state.items() if not k.startswith("gains."))
    # the wide model then codes exactly as the narrow one at each shared quality
    wide = hp.ScaleHyperprior(N=16, M=24).eval()
    wide.load_state_dict(new)
    x = torch.rand(1, 3, 64, 64)
    for q_old in (0, 4, 7):
        a = narrow(x, torch.tensor([float(q_old)]))
        b = wide(x, torch.tensor([float(q_old + 2)]))
        assert torch.equal(a["x_hat"], b["x_hat"])
    with pytest.raises(ValueError):
        extend_qualities(state, old[::-1], hp.LAMBDAS)
    with pytest.raises(ValueError):
        extend_qualities(state, old[:7], hp.LAMBDAS)
