"""The shipped DeepSIC (``deepsic-pre`` / ``deepsic-post``): f and g of a transform coder,
the pre head on the encoder's float latent, the post head on the decoded latent with one
batch normalisation per quality; bit-exact round trips at odd sizes, in fresh processes
with 1 and 2 threads; the image and bits of the shipped hyperprior; the heads' trainer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.container import from_bytes, to_bytes
from app.errors import PipelineError
from app.nets import deepsic_transform as dt
from app.pipelines import classlayer
from app.pipelines.base import LayerKind
from tests.images import classes_digest, decode_in_fresh_process

ROOT = str(Path(__file__).resolve().parents[1])
SMALL = {"N": 16, "M": 24, "Nh": 16, "context": 32, "groups": 3, "head": 16, "fc": 16}


def _small_model(seed: int = 0) -> dt.TransformDeepSIC:
    torch.manual_seed(seed)
    m = dt.TransformDeepSIC(**SMALL)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # BN statistics that differ per quality, so the levels matter
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5, generator=g)
                mod.running_var.uniform_(0.5, 2.0, generator=g)
    return m.eval()


def _pipelines():
    from app.pipelines.deepsic import DeepsicPostPipeline, DeepsicPrePipeline

    m = _small_model()
    return {"deepsic-pre": DeepsicPrePipeline(m, b"dtrandom"),
            "deepsic-post": DeepsicPostPipeline(m, b"dtrandom")}


@pytest.fixture(scope="module")
def pipelines():
    return _pipelines()


def test_heads_and_levels() -> None:
    m = _small_model()
    y = torch.randn(2, 24, 5, 7) * 3
    q = torch.tensor([2.0, 2.0])
    dec = m.decoded_latent(y, q)
    gain, inv_gain = m.gains(q)
    assert torch.equal(dec, torch.round(y * gain) * inv_gain)
    assert m.logits("pre", y).shape == (2, 10)
    a = m.classify("post", dec, 2.0)
    b = m.classify("post", dec, 7.0)  # another quality: another batch normalisation
    assert a.shape == (2, 10) and torch.allclose(a.sum(1), torch.ones(2))
    assert not torch.allclose(a, b)
    assert dt.TransformDeepSIC.level_of(9.4) == 9 and dt.TransformDeepSIC.level_of(-1) == 0
    with pytest.raises(ValueError, match="needs the quality"):
        m.logits("post", dec)
    with pytest.raises(ValueError, match="heads"):
        dt.TransformDeepSIC(**{**SMALL, "heads": ["side"]})
    heads = {id(p) for p in m.h.parameters()}
    assert not heads & {id(p) for p in m.codec_parameters()}


SIZES = [(1, 1), (13, 7), (40, 72), (65, 63), (9, 300)]


@pytest.mark.parametrize("name", ["deepsic-pre", "deepsic-post"])
def test_round_trip_bit_exact_at_odd_sizes(pipelines, name: str) -> None:
    p = pipelines[name]
    rng = np.random.default_rng(5)
    for h, w in SIZES:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        enc = p.encode(image, {"quality": 1 + (h * w) % 10})
        dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
        assert dec.shape == (h, w, 3)
        assert np.array_equal(dec, enc.reconstruction), (name, h, w)
        for key in ("classes", "class_probabilities", "bits"):
            assert np.array_equal(views[key].array, enc.views[key].array), (name, key)


def test_layers_and_carried_classes(pipelines) -> None:
    image = np.random.default_rng(8).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    # without the edge offsets, which the encoder may add after the latent (test_edge_offsets)
    off = {"quality": 3, "edges": 0}
    pre = from_bytes(to_bytes(pipelines["deepsic-pre"].encode(image, off)))
    post = from_bytes(to_bytes(pipelines["deepsic-post"].encode(image, off)))
    assert [la.kind for la in pre.layers] == [LayerKind.SIDE_INFO, LayerKind.SIDE_INFO,
                                              LayerKind.LATENT]
    assert [la.kind for la in post.layers] == [LayerKind.SIDE_INFO, LayerKind.LATENT]
    # the codec's layers are the same bytes: the class layer is all pre adds
    assert [la.data for la in pre.layers[1:]] == [la.data for la in post.layers]
    assert classlayer.classes_of(post) is None
    classes = classlayer.classes_of(pre)
    assert classes is not None and len(classes) == 5
    # the pre class does not depend on the rate, the post class is the decoder's
    again = from_bytes(to_bytes(pipelines["deepsic-pre"].encode(image, {"quality": 9,
                                                                         "edges": 0})))
    assert pre.layers[0].data == again.layers[0].data
    # a post file handed to the pre decoder (no class layer) is refused in one line
    post.pipeline = "deepsic-pre"
    with pytest.raises(PipelineError, match="unexpected layers"):
        pipelines["deepsic-pre"].decode(post)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["deepsic-pre", "deepsic-post"])
def test_fresh_process_decodes_identically(pipelines, name: str, threads: int) -> None:
    p = pipelines[name]
    image = np.random.default_rng(10).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 4})
    got = decode_in_fresh_process(to_bytes(enc), threads, "tests.test_deepsic_transform", name)
    assert got == classes_digest(enc.reconstruction, enc.views)


def test_shipped_deepsic_codes_as_the_shipped_hyperprior() -> None:
    """The shipped weights: the codec part is the hyperprior's bit for bit, so at the same
    quality the image and the codec layers are the hyperprior's; round trips exact."""
    from app.nets import zoo
    from app.pipelines import registry

    if not (zoo.models_dir() / "deepsic-lite.json").exists():
        pytest.skip("no shipped deepsic-lite weights in models/")
    man = zoo.read_manifest("deepsic")
    assert man["codec"]["sha256"] == zoo.read_manifest("hyperprior")["sha256"]
    image = np.random.default_rng(12).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    ref = registry.get("hyperprior").encode(image, {"quality": 2})
    for name in ("deepsic-pre", "deepsic-post"):
        p = registry.get(name)
        enc = p.encode(image, {"quality": 2})
        dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
        assert np.array_equal(dec, enc.reconstruction)
        assert np.array_equal(enc.reconstruction, ref.reconstruction)
        assert [la.data for la in enc.layers[-2:]] == [la.data for la in ref.layers]
        assert np.array_equal(views["classes"].array, enc.views["classes"].array)


def test_heads_trainer_smoke(tmp_path, monkeypatch) -> None:
    """A fake Imagenette (2 images per class) and a small hyperprior: cache, train,
    resume, export weights that the pipelines load, the codec's tensors unchanged."""
    from PIL import Image
    from safetensors.torch import load_file

    from app.classes import IMAGENETTE_CLASSES
    from app.nets import hyperprior as hp
    from app.nets import zoo
    from app.pipelines.deepsic import DeepsicPostPipeline, DeepsicPrePipeline
    from app.train import common, train_main

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, (wnid, _) in enumerate(IMAGENETTE_CLASSES):
            d = tmp_path / "data" / split / wnid
            d.mkdir(parents=True)
            for j in range(2):
                im = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8) // (i + 1)
                Image.fromarray(im).save(d / f"{j}.JPEG")
    codec_cfg = {k: SMALL[k] for k in dt.CODEC_KEYS}
    torch.manual_seed(3)
    codec = hp.ScaleHyperprior(**codec_cfg)
    codec_dir = tmp_path / "codec"
    common.export_safetensors(codec.state_dict(), codec_dir, "hyperprior-lite",
                              {"name": "hyperprior", "config": codec_cfg, "steps": 1})
    ref = Path(ROOT) / "models"
    run, out = tmp_path / "run", tmp_path / "models"
    args = ["deepsic-heads", "--data", str(tmp_path / "data"), "--threads", "1",
            "--device", "cpu", "--batch", "4", "--val-every", "1", "--val-per-class", "1",
            "--codec", str(codec_dir / "hyperprior-lite.safetensors"),
            "--teacher", str(ref / "deepsic-ref-lite.safetensors"),
            "--run-dir", str(run), "--out", str(out)]
    assert train_main([*args, "--iters", "2"]) == 0
    assert (run / "cache.npz").exists()
    assert train_main([*args, "--iters", "3", "--resume"]) == 0
    # fine-tuning the exported heads on one more random resized view of every image
    first = load_file(str(out / "deepsic-lite.safetensors"))
    assert train_main([*args, "--iters", "1", "--extra-views", "1", "--lr", "1e-12",
                       "--run-dir", str(tmp_path / "run2"), "--out", str(tmp_path / "m2"),
                       "--init", str(out / "deepsic-lite.safetensors")]) == 0
    assert (tmp_path / "run2" / "cache-extra1-seed0.npz").exists()
    again = load_file(str(tmp_path / "m2" / "deepsic-lite.safetensors"))
    changed = [k for k, v in first.items() if k.startswith("h.") and "running" not in k
               and "num_batches" not in k and not torch.equal(again[k], v)]
    assert not changed, changed
    man2 = json.loads((tmp_path / "m2" / "deepsic-lite.json").read_text())
    assert "1 random resized crops of each" in man2["training_data"]
    assert man2["init"] == "deepsic-lite.safetensors"
    man = json.loads((out / "deepsic-lite.json").read_text())
    assert man["config"]["M"] == SMALL["M"] and man["config"]["heads"] == ["pre", "post"]
    assert {"top1_pre", "quality10", "teacher_top1"} <= set(man["validation"])
    assert man["codec"]["sha256"] == zoo.sha256_file(codec_dir / "hyperprior-lite.safetensors")
    got, want = load_file(str(out / "deepsic-lite.safetensors")), load_file(
        str(codec_dir / "hyperprior-lite.safetensors"))
    assert all(torch.equal(got[k], v) for k, v in want.items())
    assert any(k.startswith("h.post.") for k in got)
    monkeypatch.setenv("EDMS_MODELS_DIR", str(out))
    image = rng.integers(0, 256, (21, 35, 3), dtype=np.uint8)
    for cls in (DeepsicPrePipeline, DeepsicPostPipeline):
        p = cls()
        assert p.model_fingerprint == zoo.fingerprint("deepsic", "lite", root=out)
        enc = p.encode(image, {"quality": 5})
        assert np.array_equal(p.decode(from_bytes(to_bytes(enc))), enc.reconstruction)
