"""MENet's semantic decoder reading the whole latent (``seg_input="latent"``) and its trainer
``edms train menet-readout``: the warm start keeps the shipped map, only the decoder
trains (the codec, hence the bits, stay), and the exported network serves the pipeline
with bit-exact round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from app.nets import menet as mn
from app.train.readout import degain, warm_start
from tests.images import write_fake_camvid

SMALL = {"N": 16, "M": 24, "Nh": 8, "Ms": 8, "S": 8, "E": 4, "R": 1}


def _random_menet(seg_input: str = "semantic", seed: int = 0) -> mn.MENet:
    torch.manual_seed(seed)
    m = mn.MENet(**SMALL, seg_input=seg_input)
    # non-trivial BN statistics, so a warm start that dropped them would show
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


def test_latent_reading_decoder_sees_y_and_zs() -> None:
    m = _random_menet("latent")
    assert m.seg_decoder.body[0].in_channels == SMALL["M"] + SMALL["Ms"]
    lat = torch.randn(1, SMALL["M"] + SMALL["Ms"], 4, 5)
    with torch.no_grad():
        base = m.segment(lat)
        lat2 = lat.clone()
        lat2[:, : SMALL["M"]] += 1.0  # ŷ alone changes: the map follows
        assert not torch.allclose(m.segment(lat2), base)
    with pytest.raises(ValueError):
        mn.MENet(**SMALL, seg_input="pixels")


def test_warm_start_keeps_the_shipped_map() -> None:
    old = _random_menet("semantic", seed=1)
    new = _random_menet("latent", seed=2)
    warm_start(new, old.state_dict())
    lat = torch.randn(2, SMALL["M"] + SMALL["Ms"], 4, 6)
    with torch.no_grad():
        assert torch.allclose(new.segment(lat), old.segment(lat), atol=1e-5)
    w = new.seg_decoder.body[0].weight
    assert bool((w[:, : SMALL["M"]] == 0).all()) and bool(w[:, SMALL["M"]:].abs().sum() > 0)


def test_degain_is_what_the_decoder_sees() -> None:
    m = _random_menet()
    lat = torch.randn(3, SMALL["M"] + SMALL["Ms"], 2, 2) * 4
    q = torch.tensor([0.0, 4.0, 9.0])
    gain, inv = m.gains(q)
    assert torch.equal(degain(m, lat, q), torch.round(lat * gain) * inv)


def _save(net: torch.nn.Module, path: Path, config: dict) -> None:
    save_file({k: v.contiguous() for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked")}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"name": path.stem.rsplit("-", 1)[0],
                                                     "config": config, "steps": 5}))


def test_readout_trains_the_decoder_alone_and_serves_the_pipeline(tmp_path, monkeypatch
                                                                   ) -> None:
    from safetensors.torch import load_file

    from app.container import from_bytes, to_bytes
    from app.nets import zoo
    from app.nets.segnet import CONFIGS as SEG_CONFIGS
    from app.nets.segnet import build_segnet
    from app.pipelines.menet import MenetPipeline
    from app.train import train_main

    data = tmp_path / "camvid"
    write_fake_camvid(data, size=(72, 64))
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(photos / "a.png")
    init = tmp_path / "menet-lite.safetensors"
    base = _random_menet("semantic", seed=4)
    _save(base, init, dict(SMALL))
    torch.manual_seed(5)
    teacher = tmp_path / "segnet-lite.safetensors"
    _save(build_segnet("lite").eval(), teacher, SEG_CONFIGS["lite"])
    out, run = tmp_path / "out", tmp_path / "run"
    args = ["menet-readout", "--data", str(data), "--init", str(init), "--teacher",
            str(teacher), "--photos", str(photos), "--photo-every", "2", "--iters", "3",
            "--val-every", "2", "--batch", "2", "--crop", "32", "--scales", "1",
            "--val-qualities", "1,10", "--threads", "1", "--device", "cpu",
            "--run-dir", str(run), "--out", str(out)]
    assert train_main(args) == 0
    assert (run / "cache.npz").exists()
    assert train_main([*args[:-6], "--iters", "4", "--resume", "--threads", "1", "--device",
                       "cpu", "--run-dir", str(run), "--out", str(out)]) == 0
    man = json.loads((out / "menet-lite.json").read_text())
    assert man["config"]["seg_input"] == "latent"
    assert {"quality1", "quality10"} == set(man["validation"]["readout"]["carried_miou"])
    assert "trained" in man["history"][-1]
    # the codec is the init's: every tensor outside the semantic decoder is unchanged
    before, after = load_file(str(init)), load_file(str(out / "menet-lite.safetensors"))
    for k, v in before.items():
        if not k.startswith("seg_decoder."):
            assert torch.equal(after[k].float(), v.float().half().float()), k
    assert not torch.equal(after["seg_decoder.body.0.weight"][:, : SMALL["M"]].float(),
                           torch.zeros_like(after["seg_decoder.body.0.weight"][:, :SMALL["M"]]
                                            .float()))
    monkeypatch.setenv("EDMS_MODELS_DIR", str(out))
    p = MenetPipeline()
    assert p.model_fingerprint == zoo.fingerprint("menet", "lite", root=out)
    image = np.random.default_rng(3).integers(0, 256, (37, 70, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 5})
    dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
    assert np.array_equal(dec, enc.reconstruction)
    assert np.array_equal(views["segmentation"].array, enc.views["segmentation"].array)
