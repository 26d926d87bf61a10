"""Tests of app.nets (SegNet, DSSLIC networks, zoo) and the training entry points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.classes import VOID
from app.errors import PipelineError
from app.nets import zoo
from app.nets.dsslic import (
    CONFIGS as DS_CONFIGS,
)
from app.nets.dsslic import (
    build_discriminator,
    build_dsslic,
    compact_to_uint8,
    one_hot,
    quantize_compact,
    uint8_to_compact,
)
from app.nets.segnet import build_segnet
from app.train import train_main
from app.train.common import export_safetensors
from app.train.data import (
    LABELID_LUT,
    TRAINID_LUT,
    SegDataset,
    detect_layout,
    load_split,
)
from tests.images import write_fake_camvid


def _nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- SegNet
def test_segnet_lite_any_size():
    m = build_segnet("lite").eval()
    with torch.no_grad():
        for h, w in [(37, 53), (64, 64), (45, 17)]:
            y = m(torch.rand(1, 3, h, w))
            assert y.shape == (1, 11, h, w)


def test_segnet_crop_back_matches_padded_input():
    """Padding happens inside: a multiple-of-8 input gives the same logits on its region."""
    m = build_segnet("lite").eval()
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        full = m(x)
        part = m(x[..., :37, :45])
    assert part.shape == (1, 11, 37, 45)
    assert not torch.equal(full[..., :37, :45], part)  # different content -> different context
    assert torch.isfinite(part).all()


def test_segnet_paper_shape_and_size():
    m = build_segnet("paper").eval()
    assert 10e6 < _nparams(m) < 20e6
    with torch.no_grad():
        assert m(torch.rand(1, 3, 64, 64)).shape == (1, 11, 64, 64)


# ---------------------------------------------------------------- DSSLIC
def test_dsslic_lite_shapes_any_size():
    g = build_dsslic("lite").eval()
    x = torch.rand(1, 3, 50, 70) * 2 - 1
    s = torch.randint(0, 12, (1, 50, 70))
    with torch.no_grad():
        c = g.compact(x, s)
        assert c.shape == (1, 3, 7, 9)
        assert c.abs().max() <= 1
        xr, cu = g.reconstruct(uint8_to_compact(compact_to_uint8(c)), s)
    assert xr.shape == cu.shape == (1, 3, 50, 70)


def test_dsslic_lite_starts_from_box_downsampling():
    g = build_dsslic("lite").eval()
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    s = torch.randint(0, 11, (1, 32, 48))
    with torch.no_grad():
        c = g.compact(x, s)
        assert torch.allclose(c, torch.nn.functional.avg_pool2d(x, 8), atol=1e-6)
        xr, cu = g.reconstruct(c, s)
    assert torch.allclose(xr, cu, atol=1e-6)  # f = 0 before training


def test_dsslic_lite_compact_is_the_box_average_without_compnet():
    g = build_dsslic("lite")
    assert g.compnet is None
    assert not any(k.startswith("compnet.") for k in g.state_dict())
    x = torch.rand(1, 3, 16, 24) * 2 - 1
    assert torch.equal(g.compact(x, torch.zeros(1, 16, 24, dtype=torch.long)),
                       torch.nn.functional.avg_pool2d(x, 8))
    # manifests written before the switch (no "comp_learned" key) still get their CompNet
    legacy = {k: v for k, v in DS_CONFIGS["lite"].items() if k != "comp_learned"}
    assert build_dsslic(legacy).compnet is not None


def test_dsslic_paper_sizes():
    cfg = DS_CONFIGS["paper"]
    g = build_dsslic(cfg)
    # FineNet is dominated by its 9 residual blocks of 2 x (3x3, 512 -> 512) convs
    assert _nparams(g.finenet) > 9 * 2 * 512 * 512 * 9
    d = build_discriminator(cfg)
    outs = d(one_hot(torch.randint(0, 11, (1, 64, 64))), torch.rand(1, 3, 64, 64),
             torch.rand(1, 3, 64, 64))
    assert len(outs) == 2 and all(len(o) == 5 for o in outs)
    assert [f.shape[1] for f in outs[0]] == [64, 128, 256, 512, 1]


def test_one_hot_void_is_zero():
    s = torch.tensor([[[0, 10, 11]]])
    oh = one_hot(s)
    assert oh.shape == (1, 11, 1, 3)
    assert oh[0, :, 0, 0].tolist()[0] == 1 and oh[0, :, 0, 2].sum() == 0


def test_quantize_ste_forward_and_grad():
    c = torch.tensor([-1.2, -0.3, 0.0, 0.5, 0.9999], requires_grad=True)
    q = quantize_compact(c, ste=True)
    codes = (q.detach() + 1) * 127.5
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert torch.equal(compact_to_uint8(c.detach()).float(), codes.round())
    q.sum().backward()
    assert c.grad[1:].eq(1).all()  # identity backward inside the clamp range


def _uint8(t: torch.Tensor) -> np.ndarray:
    return torch.round((t.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).numpy()


@pytest.mark.parametrize("kind", ["segnet", "dsslic"])
def test_deterministic_across_runs_and_threads(kind):
    x = torch.rand(1, 3, 96, 128)
    s = torch.randint(0, 11, (1, 96, 128))
    if kind == "segnet":
        m = build_segnet("lite").eval()

        def f():
            return m(x).argmax(1).numpy()
    else:
        m = build_dsslic({**DS_CONFIGS["lite"], "comp_learned": True}).eval()
        for last in (m.compnet.net[-2], m.finenet.net[-2]):  # zero-initialised: perturb
            torch.nn.init.normal_(last.weight, std=0.05)

        def f():
            c = uint8_to_compact(compact_to_uint8(m.compact(x * 2 - 1, s)))
            return _uint8(m.reconstruct(c, s)[0])
    old = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            a, b = f(), f()
            torch.set_num_threads(2)
            c2 = f()
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(a, b)
    assert np.array_equal(a, c2)


# ---------------------------------------------------------------- zoo
def _export(tmp: Path, name: str = "segnet") -> torch.nn.Module:
    m = build_segnet("lite") if name == "segnet" else build_dsslic("lite")
    cfg = m.config
    export_safetensors(m.state_dict(), tmp, f"{name}-lite", {"name": name, "config": cfg})
    return m


def test_zoo_roundtrip_and_fingerprint(tmp_path):
    m = _export(tmp_path).eval()
    loaded, man = zoo.load_model("segnet", "lite", root=tmp_path)
    assert man["dtype"] == "float16" and len(man["sha256"]) == 64
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        # fp16 export: close to the float32 original, identical between two loads
        assert torch.allclose(loaded(x), m(x), atol=0.1)
        again, _ = zoo.load_model("segnet", "lite", root=tmp_path)
        assert torch.equal(loaded(x), again(x))
    fp = zoo.fingerprint("segnet", root=tmp_path)
    assert fp == bytes.fromhex(man["sha256"])[:8]
    _export(tmp_path, "dsslic")
    both = zoo.fingerprint(["segnet", "dsslic"], root=tmp_path)
    assert len(both) == 8 and both not in (fp, zoo.fingerprint("dsslic", root=tmp_path))


def test_zoo_refuses_sha_mismatch(tmp_path):
    _export(tmp_path)
    st = tmp_path / "segnet-lite.safetensors"
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(PipelineError, match="sha256"):
        zoo.load_model("segnet", "lite", root=tmp_path)


def test_zoo_missing_weights(tmp_path):
    with pytest.raises(PipelineError, match="not found"):
        zoo.load_model("dsslic", "lite", root=tmp_path)
    _export(tmp_path)
    with pytest.raises(PipelineError, match="unknown network"):
        zoo.load_model("nope", "lite", root=tmp_path)


def test_zoo_refuses_wrong_architecture(tmp_path):
    _export(tmp_path)
    man_path = tmp_path / "segnet-lite.json"
    man = json.loads(man_path.read_text())
    man["config"]["widths"] = [8, 16, 32, 64]
    man_path.write_text(json.dumps(man))
    with pytest.raises((PipelineError, RuntimeError)):
        zoo.load_model("segnet", "lite", root=tmp_path)


# ---------------------------------------------------------------- data
def _fake_camvid(root: Path, n: int = 3, size: tuple[int, int] = (48, 40)) -> None:
    write_fake_camvid(root, n, size)


def test_camvid_loader_and_crops(tmp_path):
    _fake_camvid(tmp_path)
    assert detect_layout(tmp_path) == "camvid"
    train = load_split(tmp_path, "train")
    assert len(train) == 3 and train[0].image.shape == (40, 48, 3)
    ds = SegDataset(train, crop=32)
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and y.shape == (32, 32)
    assert float(x.min()) >= 0 and float(x.max()) <= 1 and int(y.max()) <= VOID


def test_cityscapes_mapping(tmp_path):
    city = tmp_path / "leftImg8bit" / "train" / "aachen"
    gt = tmp_path / "gtFine" / "train" / "aachen"
    city.mkdir(parents=True)
    gt.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 16, 3), np.uint8)).save(city / "a_0_leftImg8bit.png")
    ids = np.array([[7, 8, 11, 26, 23, 0, 33, 24] * 2] * 8, np.uint8)  # labelIds
    Image.fromarray(ids).save(gt / "a_0_gtFine_labelIds.png")
    s = load_split(tmp_path, "train")
    assert detect_layout(tmp_path) == "cityscapes"
    assert s[0].label[0, :8].tolist() == [3, 4, 1, 8, 0, VOID, 10, 9]
    assert TRAINID_LUT[255] == VOID and LABELID_LUT[7] == 3


# ---------------------------------------------------------------- training smoke
@pytest.mark.parametrize("net", ["segnet", "dsslic"])
def test_train_smoke_checkpoint_resume(tmp_path, net):
    data = tmp_path / "data"
    _fake_camvid(data)
    run, out = tmp_path / "run", tmp_path / "models"
    common = [net, "--data", str(data), "--config", "lite", "--threads", "1", "--device", "cpu",
              "--crop", "32", "--batch", "2", "--val-every", "1", "--run-dir", str(run),
              "--out", str(out)]
    assert train_main([*common, "--iters", "2"]) == 0
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["step"] == 2
    assert train_main([*common, "--iters", "3", "--resume"]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 3
    man = json.loads((out / f"{net}-lite.json").read_text())
    assert man["steps"] >= 1 and "validation" in man
    model, _ = zoo.load_model(net, "lite", root=out)
    assert isinstance(model, torch.nn.Module)


def test_smapnet_train_smoke(tmp_path, monkeypatch):
    """SMapNet trains on s~ = SegNet(c') from the (here: barely trained) shipped nets."""
    data = tmp_path / "data"
    _fake_camvid(data, size=(72, 64))
    out = tmp_path / "models"
    monkeypatch.setenv("EDMS_MODELS_DIR", str(out))
    for net in ("segnet", "dsslic"):
        assert train_main([net, "--data", str(data), "--threads", "1", "--device", "cpu",
                           "--crop", "32", "--batch", "2", "--val-every", "1", "--iters", "1",
                           "--run-dir", str(tmp_path / net), "--out", str(out)]) == 0
    common = ["smapnet", "--data", str(data), "--threads", "1", "--device", "cpu",
              "--crop", "32", "--batch", "2", "--val-every", "1",
              "--run-dir", str(tmp_path / "sm"), "--out", str(out)]
    assert train_main([*common, "--iters", "2"]) == 0
    assert train_main([*common, "--iters", "3", "--resume"]) == 0
    assert torch.load(tmp_path / "sm" / "last.pt", weights_only=True)["step"] == 3
    # EDMS's procedure: FineNet fine-tuned on SMapNet's output, exported as dsslic-edms
    assert train_main(["dsslic", "--name", "dsslic-edms", "--seg", "smapnet", "--init",
                       str(out / "dsslic-lite.safetensors"), "--data", str(data), "--threads",
                       "1", "--crop", "32", "--batch", "2", "--val-every", "1", "--iters", "1",
                       "--run-dir", str(tmp_path / "de"), "--out", str(out)]) == 0
    de = json.loads((out / "dsslic-edms-lite.json").read_text())
    assert de["name"] == "dsslic-edms" and "SMapNet" in de["segmentation_input"]
    assert de["init"] == "dsslic-lite.safetensors"
    man = json.loads((out / "smapnet-lite.json").read_text())
    assert set(man["trained_against"]) == {"segnet", "compact"}
    assert man["trained_against"]["compact"] == "8x8 box average"  # lite: no CompNet
    assert "[-1, 26]" in man["training_data"]  # lossless and HEVC-coded bases
    model, _ = zoo.load_model("smapnet", "lite", root=out)
    # the global residual starts as the identity map: SMapNet(s~) == s~ before training
    fresh = __import__("app.nets.smapnet", fromlist=["x"]).build_smapnet("lite").eval()
    s = torch.randint(0, 11, (1, 40, 48))
    from app.nets.dsslic import one_hot

    assert torch.equal(fresh.predict(one_hot(s), torch.rand(1, 3, 40, 48)), s)


# ---------------------------------------------------------------- PostNet
def test_postnet_starts_as_identity_any_size():
    from app.nets.postnet import build_postnet

    net = build_postnet("lite").eval()
    for h, w in ((1, 1), (13, 7), (32, 48)):
        x, p = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
        y = net(x, p, torch.tensor([22.0, 42.0]))
        assert y.shape == x.shape and torch.equal(y, x)


def test_postnet_sees_prediction_and_qp():
    from app.nets.postnet import build_postnet

    torch.manual_seed(0)
    net = build_postnet("lite").eval()
    torch.nn.init.normal_(net.tail.weight, std=0.05)
    x, p = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    base = net(x, p, 30.0)
    assert not torch.allclose(base, net(x, p, 40.0))
    assert not torch.allclose(base, net(x, torch.rand(1, 3, 24, 24), 30.0))


def test_postnet_variants_without_prediction_and_with_map():
    """hevc-pf's PostNet has no x' input (4 head channels); hevc-spf's also takes a class
    map through the semantic branch. Both start as the identity and then see their inputs."""
    from app.nets.postnet import build_postnet, in_channels

    torch.manual_seed(0)
    plain = build_postnet("lite", prediction=False).eval()
    sem = build_postnet("lite", prediction=False, seg_classes=11).eval()
    assert plain.head.in_channels == in_channels({"prediction": False}) == 4
    x = torch.rand(1, 3, 13, 7)
    s = torch.randint(0, 12, (1, 1, 13, 7), dtype=torch.uint8)
    assert torch.equal(plain(x, None, 30.0), x) and torch.equal(sem(x, None, 30.0, s), x)
    torch.nn.init.normal_(sem.tail.weight, std=0.05)
    torch.nn.init.normal_(sem.sem.out.weight, std=0.05)
    assert not torch.allclose(sem(x, None, 30.0, s), sem(x, None, 30.0, (s + 1) % 12))
    with pytest.raises(ValueError, match="segmentation"):
        sem(x, None, 30.0)


def test_postnet_grows_without_changing_its_output(tmp_path):
    """--blocks / --refine: a deeper trunk and full-resolution blocks warm-started from a
    smaller PostNet start as exactly that filter (their new blocks' last convolution at
    zero), and then learn (the new blocks' first convolutions get gradients)."""
    from app.nets.postnet import build_postnet
    from app.train.postnet import init_postnet

    torch.manual_seed(0)
    small = build_postnet("lite", prediction=False)
    for p in small.parameters():
        torch.nn.init.normal_(p, std=0.05)
    export_safetensors(small.state_dict(), tmp_path, "small", {"config": {}})
    small = build_postnet("lite", prediction=False)
    init_postnet(small, tmp_path / "small.safetensors")  # the fp16-rounded weights
    big = build_postnet("lite", prediction=False, blocks=6, refine=2)
    init_postnet(big, tmp_path / "small.safetensors")
    assert len(big.trunk) == 6 and len(big.refine) == 2
    x = torch.rand(2, 3, 21, 34)
    small.eval()
    big.eval()
    assert torch.equal(small(x, None, 33.0), big(x, None, 33.0))
    assert not torch.equal(big(x, None, 33.0), x)  # not the identity: the small filter
    big.train()
    loss = (big(x, None, 33.0) - x.flip(-1)).square().mean()
    loss.backward()
    assert big.refine[1].c2.weight.grad.abs().sum() > 0
    assert big.trunk[5].c2.weight.grad.abs().sum() > 0


def test_postnet_hevc_variant_train_smoke(tmp_path):
    """--variant hevc-seg: pairs from plain HEVC on frames and photographs, with SegNet's
    map of the decoded frame; a warm start from the layered PostNet folds its x' weights
    into x_hat's; the export loads as postnet-hevc-seg."""
    from app.train.postnet import init_postnet

    data, photos = tmp_path / "data", tmp_path / "photos"
    _fake_camvid(data, size=(48, 40))
    (photos / "a").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 36, 3), dtype=np.uint8)).save(
            photos / "a" / f"p{i}.JPEG")
    layered = tmp_path / "layered"
    from app.nets.postnet import CONFIGS, build_postnet

    src = build_postnet("lite")
    torch.nn.init.normal_(src.head.weight, std=0.1)
    export_safetensors(src.state_dict(), layered, "postnet-lite", {"config": CONFIGS["lite"]})
    dst = build_postnet("lite", prediction=False, seg_classes=11)
    init_postnet(dst, layered / "postnet-lite.safetensors")
    w = src.head.weight.detach().half().float()
    assert torch.allclose(dst.head.weight, torch.cat([w[:, :3] + w[:, 3:6], w[:, 6:]], 1))

    run, out = tmp_path / "run", tmp_path / "models"
    assert train_main(["postnet", "--variant", "hevc-seg", "--data", str(data),
                       "--extra-data", str(photos), "--extra-limit", "2",
                       "--extra-val", str(photos), "--extra-val-n", "1",
                       "--threads", "1", "--device", "cpu", "--per-frame", "1",
                       "--crop", "32", "--batch", "2", "--val-every", "1",
                       "--val-frames", "2", "--iters", "2", "--run-dir", str(run),
                       "--out", str(out), "--loss", "psnr",
                       "--init", str(layered / "postnet-lite.safetensors")]) == 0
    with np.load(run / "pairs-train.npz") as z:
        assert z["x"].shape == (5, 176, 176, 3) and "pred" not in z.files
        assert z["seg"].shape == (5, 176, 176, 1) and int(z["seg"].max()) <= 11
        assert sorted(z["source"].tolist()) == [0, 0, 0, 1, 1]
    man = json.loads((out / "postnet-hevc-seg-lite.json").read_text())
    assert man["loss"].startswith("mean over the samples of log")
    assert man["config"]["prediction"] is False and man["config"]["seg_classes"] == 11
    assert set(man["trained_against"]) == {"hevc", "segnet"}
    assert any(k.startswith("photo:") for k in man["validation"]["per_pipeline_qp"])
    model, _ = zoo.load_model("postnet-hevc-seg", "lite", root=out)
    assert model.sem is not None

    # --add-pairs: new pairs (another seed, low QPs) join the cached ones, whose validation
    # pairs are reused rather than made again
    run2, out2 = tmp_path / "run2", tmp_path / "models2"
    args = ["postnet", "--variant", "hevc-seg", "--data", str(data), "--extra-data",
            str(photos), "--extra-limit", "1", "--extra-val", str(photos), "--extra-val-n",
            "1", "--threads", "1", "--device", "cpu", "--per-frame", "1", "--crop", "32",
            "--batch", "2", "--val-every", "1", "--val-frames", "2", "--iters", "1",
            "--seed", "5", "--qp-range", "20,24", "--run-dir", str(run2), "--out", str(out2)]
    assert train_main([*args, "--add-pairs", str(run)]) == 0
    assert (run2 / "pairs-train.npz").exists() and not (run2 / "pairs-val.npz").exists()
    with np.load(run2 / "pairs-train.npz") as z:
        assert len(z["x"]) == 4 and 20 <= int(z["qp"].min()) <= int(z["qp"].max()) <= 24
    man2 = json.loads((out2 / "postnet-hevc-seg-lite.json").read_text())
    assert man2["training_data"].startswith("4 pairs: ")
    assert "and 5 pairs of an earlier run" in man2["training_data"]
    with pytest.raises(SystemExit, match="no cached pairs at"):
        train_main([*args, "--add-pairs", str(tmp_path / "absent")])


def test_postnet_join_pairs_keeps_common_arrays_and_refuses_other_crops():
    from app.train.postnet import join_pairs

    a = {"x": np.zeros((2, 8, 8, 3)), "seg": np.zeros((2, 8, 8, 1)), "qp": np.array([20, 30])}
    b = {"x": np.ones((1, 8, 8, 3)), "qp": np.array([40])}
    j = join_pairs([a, b])
    assert sorted(j) == ["qp", "x"] and j["qp"].tolist() == [20, 30, 40]
    assert j["x"].shape == (3, 8, 8, 3)
    with pytest.raises(SystemExit, match="shape of 'x'"):
        join_pairs([a, {"x": np.ones((1, 9, 9, 3)), "qp": np.array([1])}])


def test_postnet_psnr_loss_weighs_every_sample_alike():
    """--loss psnr: halving the error of a nearly clean sample (a low QP) moves the loss as
    much as halving that of a noisy one (a high QP); with --loss mse the noisy one wins
    by the ratio of their errors."""
    from app.train.postnet import sample_loss

    base = torch.tensor([1e-4, 1e-2])
    clean_halved, noisy_halved = base * torch.tensor([0.5, 1]), base * torch.tensor([1, 0.5])
    for kind in ("psnr", "mse"):
        d_clean = float(sample_loss(base, kind) - sample_loss(clean_halved, kind))
        d_noisy = float(sample_loss(base, kind) - sample_loss(noisy_halved, kind))
        if kind == "psnr":
            assert d_clean == pytest.approx(d_noisy, rel=0.02)
        else:
            assert d_noisy == pytest.approx(100 * d_clean, rel=1e-3)
    assert torch.isfinite(sample_loss(torch.zeros(3), "psnr"))  # a perfect crop: floored


def test_postnet_augment_resizes_and_permutes():
    from app.train.postnet import PERMS, augment

    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    assert np.array_equal(augment(img, 1.0, 0), img)
    assert augment(img, 0.5, 0).shape == (20, 30, 3)
    k = PERMS.index((2, 1, 0))
    assert np.array_equal(augment(img, 1.0, k), img[..., ::-1])


def test_postnet_train_smoke(tmp_path):
    """The trainer encodes pairs with layered pipelines (here the no-network reference),
    caches them, trains, resumes and exports a loadable PostNet."""
    data = tmp_path / "data"
    _fake_camvid(data, size=(48, 40))
    run, out = tmp_path / "run", tmp_path / "models"
    common = ["postnet", "--data", str(data), "--threads", "1", "--device", "cpu",
              "--pipelines", "layered-ref,layered-ref-lb", "--per-frame", "2",
              "--crop", "32", "--batch", "2", "--val-every", "1", "--val-frames", "2",
              "--run-dir", str(run), "--out", str(out)]
    assert train_main([*common, "--iters", "2"]) == 0
    with np.load(run / "pairs-train.npz") as z:
        assert z["x"].shape == (6, 176, 176, 3) and z["x_hat"].shape == z["x"].shape
        assert z["qp"].min() >= 20 and z["qp"].max() <= 44
        assert {round(float(v), 3) for v in z["scale"]} <= {1.0, 0.7, 0.5}
    assert train_main([*common, "--iters", "3", "--resume"]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 3
    man = json.loads((out / "postnet-lite.json").read_text())
    assert man["name"] == "postnet" and "gain_db" in man["validation"]
    assert set(man["trained_against"]) == {"layered-ref", "layered-ref-lb"}
    model, _ = zoo.load_model("postnet", "lite", root=out)
    assert isinstance(model, torch.nn.Module)
    # --init: a warm restart from shipped weights, recorded in the new manifest
    run2, out2 = tmp_path / "run2", tmp_path / "models2"
    swap = {str(run): str(run2), str(out): str(out2)}
    args2 = [swap.get(a, a) for a in common]
    assert train_main([*args2, "--iters", "1", "--init",
                       str(out / "postnet-lite.safetensors")]) == 0
    man2 = json.loads((out2 / "postnet-lite.json").read_text())
    assert man2["init"] == "postnet-lite.safetensors" and man2["init_steps"] == man["steps"]


@pytest.mark.parametrize("variant", ["B", "B+Q+A"])
def test_menet_ablation_train_smoke(tmp_path, variant):
    """Table 1's variants train their semantic path only, on the frozen compression
    branch of a menet state (here random weights), and export a loadable menet."""
    import json

    from safetensors.torch import save_file

    from app.nets import menet as mn
    from app.train import train_main
    from app.train.menet_ablation import build

    data = tmp_path / "camvid"
    _fake_camvid(data, size=(72, 64))
    torch.manual_seed(3)
    base = mn.MENet.from_config(mn.CONFIGS["lite"])
    init = tmp_path / "menet-lite.safetensors"
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, str(init))
    out = tmp_path / "out"
    assert train_main(["menet-ablation", "--data", str(data), "--variant", variant,
                       "--init", str(init), "--iters", "2", "--val-every", "1", "--batch", "2",
                       "--crop", "64", "--val-frames", "2", "--threads", "1",
                       "--device", "cpu", "--run-dir", str(tmp_path / "run"),
                       "--out", str(out)]) == 0
    tag = variant.replace("+", "")
    man = json.loads((out / f"menet-ablation-{tag}-lite.json").read_text())
    assert man["config"]["aggregate"] == (variant == "B+Q+A")
    assert man["config"]["quantise_semantic"] == (variant == "B+Q+A")
    assert {"quality3", "quality6", "quality10", "miou_mean"} <= set(man["validation"])
    # the compression branch is the init's, untouched; only the semantic path trains
    model = build(variant, "lite", str(init), seed=0)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("aggregation.", "seg_decoder.")) for n in trained)
    assert torch.equal(model.g_a.convs[0].weight, base.g_a.convs[0].weight)
    # with the rate of the coded latent in the loss (the frozen hyperprior's estimate)
    assert train_main(["menet-ablation", "--data", str(data), "--variant", variant,
                       "--init", str(init), "--iters", "1", "--val-every", "1", "--batch", "2",
                       "--crop", "64", "--val-frames", "1", "--threads", "1",
                       "--rate-weight", "1", "--device", "cpu",
                       "--run-dir", str(tmp_path / "run-r"), "--out", str(out)]) == 0
    man = json.loads((out / f"menet-ablation-{tag}-r1-lite.json").read_text())
    assert "bpp of the coded latent" in man["loss"]


def test_every_shipped_manifest_says_how_it_was_trained_and_scored() -> None:
    """Each shipped network's manifest gives its training steps, its data and validation
    numbers, and the sha256 its weights file has."""
    import hashlib
    import json

    from app.nets import zoo

    manifests = sorted(zoo.models_dir().glob("*.json"))
    if not manifests:
        pytest.skip("no shipped weights in models/")
    for path in manifests:
        man = json.loads(path.read_text())
        assert isinstance(man.get("steps"), int) and man["steps"] > 0, path.name
        assert man.get("training_data"), path.name
        assert isinstance(man.get("validation"), dict) and man["validation"], path.name
        weights = path.with_name(man["file"])
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == man["sha256"], path.name
