"""DeepSIC with the paper's network (``deepsic-bp-*``): the network's shapes, Eq. 1, the
context-adaptive binary coder, the two pipelines (bit-exact round trips, fresh-process
decoding), the class layer, and ``edms info`` / ``edms search`` without decoding."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from app.classes import IMAGENETTE_NAMES
from app.container import from_bytes, header_size, to_bytes, write_edms
from app.entropy import binary
from app.errors import PipelineError
from app.nets import deepsic as ds
from app.pipelines import classlayer
from app.pipelines.base import Encoded, Layer, LayerKind
from tests.images import classes_digest, decode_in_fresh_process

ROOT = str(Path(__file__).resolve().parents[1])


# --- the network ---------------------------------------------------------------------------

@pytest.mark.parametrize("config", ["lite", "paper"])
def test_network_shapes(config: str) -> None:
    torch.manual_seed(0)
    m = ds.DeepSIC(**ds.CONFIGS[config]).eval()
    c = ds.CONFIGS[config]["channels"]
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        o = m(x, torch.tensor([1, c]))
        f = m.features(x)
    assert m.stride == 8
    assert o["x_hat"].shape == (2, 3, 64, 96)
    assert o["likelihoods"].shape == (2, c, 8, 12)
    assert o["logits_pre"].shape == o["logits_post"].shape == (2, 10)
    assert f.shape == (2, c, 8, 12) and float(f.abs().max()) < 1
    # dropped channels cost nothing: the first sample keeps one channel
    assert bool((o["likelihoods"][0, 1:] == 1).all())
    assert m.context_table.shape == (binary.table_size(c),)


def test_each_operating_point_has_its_own_batch_norm() -> None:
    """With ``level_bn`` the layers after the channel mask normalise per operating point:
    a mixed batch gives each sample what a batch of its own operating point gives, and
    the points' statistics are separate modules."""
    torch.manual_seed(1)
    m = ds.DeepSIC(**ds.CONFIGS["lite"])
    assert m.levels == [2, 4, 8, 16, 32]
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
    m.eval()
    x = torch.rand(3, 3, 32, 40)
    kept = torch.tensor([32, 2, 8])
    with torch.no_grad():
        mixed = m(x, kept)
        for i in range(3):
            alone = m(x[i:i + 1], kept[i:i + 1])
            assert torch.allclose(mixed["x_hat"][i], alone["x_hat"][0], atol=1e-6)
            assert torch.allclose(mixed["logits_post"][i], alone["logits_post"][0], atol=1e-6)
        # the same codes decoded at two operating points' statistics differ
        k = ds.quantise(m.features(x[:1]))
        assert not torch.allclose(m.reconstruct(k, 2), m.reconstruct(k, 32))
    bns = [mod for mod in m.g.modules() if isinstance(mod, ds.LevelBatchNorm)]
    assert bns and all(len(b.bns) == 5 for b in bns)
    assert m.level_of(1) == 0 and m.level_of(3) == 1 and m.level_of(99) == 4


def test_reference_embedding_keeps_the_classifier() -> None:
    """``--init-reference``: f and the pre head of a wider DeepSIC compute exactly what the
    reference classifier computes, and the post head starts as the pre head."""
    from app.train.deepsic import embed_reference

    torch.manual_seed(2)
    ref = ds.DeepSIC(**dict(ds.CONFIGS["lite"], heads=["pre"], level_bn=False))
    for mod in ref.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.3, 0.3)
            mod.running_var.uniform_(0.5, 2.0)
    ref.eval()
    wide = ds.DeepSIC(**dict(ds.CONFIGS["lite"], filters=[96, 48, 48])).eval()
    assert embed_reference(wide, ref.state_dict()) > 20
    x = torch.rand(2, 3, 48, 56)
    with torch.no_grad():
        assert torch.allclose(wide.features(x), ref.features(x), atol=1e-5)
        assert torch.allclose(wide.h["pre"](wide.features(x)), ref.h["pre"](ref.features(x)),
                              atol=1e-5)
    assert torch.equal(wide.h["post"].fc2.weight, wide.h["pre"].fc2.weight)
    pre_bn, post_bn = wide.h["pre"].convs[1], wide.h["post"].convs[1]
    assert isinstance(post_bn, ds.LevelBatchNorm)
    for bn in post_bn.bns:
        assert torch.equal(bn.running_mean, pre_bn.running_mean)
        assert torch.equal(bn.weight, pre_bn.weight)


def test_network_refuses_bad_settings() -> None:
    with pytest.raises(ValueError):
        ds.DeepSIC(strides=(3, 2, 1, 1))
    with pytest.raises(ValueError):
        ds.DeepSIC(heads=("middle",))


def test_quantisation_is_eq1() -> None:
    f = torch.tensor([-0.999, -0.5, -0.01, 0.0, 0.01, 1 / 32, 0.5, 0.999])
    k = ds.quantise(f)
    assert k.tolist() == [-31, -16, 0, 0, 1, 1, 16, 32]
    assert torch.allclose(ds.dequantise(k), torch.ceil(32 * f) / 32)


# --- the binary coder ----------------------------------------------------------------------

def _codes(shape: tuple[int, ...], seed: int, spread: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = np.clip(np.round(rng.laplace(size=shape) * spread), -31, 32).astype(np.int64)
    k[..., : shape[-1] // 3] = 0  # some structure for the contexts to find
    return k


def _table(channels: int) -> np.ndarray:
    return binary.fit_table([binary.to_symbols(_codes((channels, 24, 40), s)) for s in (1, 2)],
                            channels)


def test_zigzag_symbols() -> None:
    k = np.arange(-31, 33)
    u = binary.to_symbols(k)
    assert sorted(u.tolist()) == list(range(64))
    assert np.array_equal(binary.from_symbols(u), k)
    assert u[k == 0] == 0 and u[k == 1] == 1 and u[k == -1] == 2
    with pytest.raises(PipelineError):
        binary.to_symbols(np.array([33]))


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 1, 1), (5, 1, 9), (32, 7, 13), (4, 40, 3)])
def test_binary_round_trip(shape: tuple[int, int, int]) -> None:
    model = binary.ContextModel.from_table(_table(32), 32)
    u = binary.to_symbols(_codes(shape, 3))
    data = binary.encode(u, model)
    assert np.array_equal(binary.decode(data, shape, model), u)


def test_binary_full_range_and_empty() -> None:
    model = binary.ContextModel.from_table(_table(8), 8)
    u = np.arange(64, dtype=np.uint8).reshape(1, 8, 8).repeat(8, axis=0)
    assert np.array_equal(binary.decode(binary.encode(u, model), u.shape, model), u)
    assert binary.encode(np.zeros((0, 4, 4), np.uint8), model) == b""
    assert binary.decode(b"", (0, 4, 4), model).shape == (0, 4, 4)


def test_learned_contexts_beat_one_probability_per_plane() -> None:
    """On data like the training data, the fitted table codes in fewer bits than the
    adaptive per-plane reference, and the coder's output is close to its ideal cost."""
    model = binary.ContextModel.from_table(_table(32), 32)
    u = binary.to_symbols(_codes((32, 24, 40), 9))
    actual = 8 * len(binary.encode(u, model))
    ideal = float(binary.bit_costs(u, model).sum())
    assert actual < ideal * 1.01 + 64
    assert actual < binary.adaptive_plane_bits(u)


def test_damaged_binary_stream() -> None:
    model = binary.ContextModel.from_table(_table(4), 4)
    u = binary.to_symbols(_codes((4, 16, 16), 4))
    data = bytearray(binary.encode(u, model))
    with pytest.raises(PipelineError):
        binary.decode(bytes(data[:-1]), u.shape, model)
    data[len(data) // 2] ^= 0x10
    try:
        back = binary.decode(bytes(data), u.shape, model)
    except PipelineError:
        return
    assert not np.array_equal(back, u)


def test_context_table_is_checked() -> None:
    with pytest.raises(PipelineError):
        binary.ContextModel.from_table(np.full(10, 100), 4)
    with pytest.raises(PipelineError):
        binary.ContextModel.from_table(np.zeros(binary.table_size(2)), 2)


_PROBS = textwrap.dedent("""
    import sys, hashlib
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from app.entropy import binary

    def codes(shape, seed):  # as tests.test_deepsic._codes, without importing torch
        rng = np.random.default_rng(seed)
        k = np.clip(np.round(rng.laplace(size=shape) * 1.5), -31, 32).astype(np.int64)
        k[..., : shape[-1] // 3] = 0
        return k

    table = binary.fit_table([binary.to_symbols(codes((6, 24, 40), s)) for s in (1, 2)], 6)
    m = binary.ContextModel.from_table(table, 6)
    u = binary.to_symbols(codes((6, 19, 23), 5))
    h = hashlib.sha256()
    for ctx, bits in binary._all_contexts(u):
        h.update(m.probabilities(ctx).astype('<i8').tobytes())
    h.update(binary.encode(u, m))
    assert "torch" not in sys.modules
    print(h.hexdigest())
""")


def test_integer_probabilities_identical_across_processes() -> None:
    outs = {subprocess.run([sys.executable, "-c", _PROBS, ROOT], capture_output=True,
                           check=True, cwd=ROOT, text=True).stdout.strip() for _ in range(2)}
    m = binary.ContextModel.from_table(_table(6), 6)
    u = binary.to_symbols(_codes((6, 19, 23), 5))
    h = hashlib.sha256()
    for ctx, _ in binary._all_contexts(u):
        h.update(m.probabilities(ctx).astype("<i8").tobytes())
    h.update(binary.encode(u, m))
    assert outs == {h.hexdigest()}


# --- the pipelines (random-weight lite network, fitted context table) -----------------------

def _pipelines():
    from app.pipelines.deepsic_bitplane import BitplanePostPipeline, BitplanePrePipeline

    torch.manual_seed(0)
    m = ds.DeepSIC(**ds.CONFIGS["lite"])
    m.context_table.copy_(torch.from_numpy(_table(m.channels)))
    return {"deepsic-bp-pre": BitplanePrePipeline(m, b"random03"),
            "deepsic-bp-post": BitplanePostPipeline(m, b"random03")}


@pytest.fixture(scope="module")
def pipelines():
    return _pipelines()


SIZES = [(1, 1), (13, 7), (7, 13), (64, 64), (65, 63), (9, 513), (520, 17), (530, 1030)]


@pytest.mark.parametrize("name", ["deepsic-bp-pre", "deepsic-bp-post"])
def test_round_trip_bit_exact_at_odd_sizes(pipelines, name: str) -> None:
    p = pipelines[name]
    rng = np.random.default_rng(5)
    for h, w in SIZES:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        enc = p.encode(image, {"rate": 1 + (h * w) % 4})
        dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
        assert dec.shape == (h, w, 3)
        assert np.array_equal(dec, enc.reconstruction), (name, h, w)
        assert np.array_equal(views["classes"].array, enc.views["classes"].array)
        assert np.array_equal(views["class_probabilities"].array,
                              enc.views["class_probabilities"].array)
        assert views["classes"].array.shape == (5,) and views["classes"].array.dtype == np.int64
        assert np.array_equal(views["bits"].array, enc.views["bits"].array)
        assert views["bits"].array.shape == (-(-h // 8), -(-w // 8))


def test_rate_orders_the_file_size(pipelines) -> None:
    p = pipelines["deepsic-bp-post"]
    image = np.random.default_rng(7).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    prepared = p.prepare(image)
    sizes = [len(to_bytes(p.encode_prepared(prepared, {"rate": r}))) for r in (1, 2, 3, 4)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_pre_file_carries_its_classes(pipelines) -> None:
    p = pipelines["deepsic-bp-pre"]
    image = np.random.default_rng(8).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    enc = p.encode(image, {"rate": 2})
    back = from_bytes(to_bytes(enc))
    assert [la.kind for la in back.layers] == [LayerKind.SIDE_INFO, LayerKind.LATENT]
    classes = classlayer.classes_of(back)
    assert [c.index for c in classes] == enc.views["classes"].array.tolist()
    assert np.array_equal(np.float32([c.probability for c in classes]),
                          enc.views["class_probabilities"].array)
    probs = [c.probability for c in classes]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-4
    assert classlayer.classes_of(from_bytes(to_bytes(pipelines["deepsic-bp-post"].encode(
        image, {"rate": 2})))) is None


def test_damaged_class_layer_is_refused(pipelines, tmp_path) -> None:
    from app.cli import main

    p = pipelines["deepsic-bp-pre"]
    image = np.random.default_rng(9).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    enc = from_bytes(to_bytes(p.encode(image, {"rate": 1})))
    good = enc.layers[0].data
    for bad in (good[:-1], good[:3] + bytes((12,)) + good[4:],  # index out of range
                good[:4] + b"\x00\x00" + good[6:],  # not decreasing
                bytes((2,)) + good[1:]):  # unknown format
        enc.layers[0] = Layer(LayerKind.SIDE_INFO, classlayer.CODEC_ID_CLASSES, bad)
        with pytest.raises(PipelineError, match="damaged class layer"):
            p.decode(from_bytes(to_bytes(enc)))
    path = tmp_path / "bad.edms"
    write_edms(path, enc)
    assert main(["info", str(path)]) == 1
    # bytes of the class layer changed on disk: the container's CRC refuses the file
    good_enc = p.encode(image, {"rate": 1})
    raw = bytearray(to_bytes(good_enc))
    raw[header_size(good_enc) + 4] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert main(["info", str(path)]) == 1
    assert main(["search", str(tmp_path), "--class", "church"]) == 0  # skipped with a note


@pytest.mark.parametrize("threads", [1, 2])
def test_fresh_process_decodes_identically(pipelines, threads: int) -> None:
    p = pipelines["deepsic-bp-post"]
    image = np.random.default_rng(10).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    enc = p.encode(image, {"rate": 3})
    got = decode_in_fresh_process(to_bytes(enc), threads, "tests.test_deepsic", "deepsic-bp-post")
    assert got == classes_digest(enc.reconstruction, enc.views)


# --- edms info / edms search ---------------------------------------------------------------

def _file_with(probs: list[float]) -> Encoded:
    return Encoded("deepsic-bp-pre", 1, b"x", 16, 16, {"rate": 1},
                   [classlayer.layer(probs), Layer(LayerKind.LATENT, 11, b"\0" * 4)])


def _probs(first: int, second: int) -> list[float]:
    p = [0.01] * 10
    p[first], p[second] = 0.6, 0.32
    return p


def test_reading_only_some_layers(tmp_path) -> None:
    from app.container import EdmsFormatError, read_edms, read_edms_layers

    path = tmp_path / "a.edms"
    enc = _file_with(_probs(4, 0))
    enc.layers[1] = Layer(LayerKind.LATENT, 11, bytes(range(200)) * 50)
    write_edms(path, enc)
    assert read_edms_layers(path, lambda kind, codec: True).layers == read_edms(path).layers
    only = read_edms_layers(path, classlayer.is_class_layer)
    assert only.layers == [enc.layers[0]] and only.params == {"rate": 1}
    data = path.read_bytes()
    path.write_bytes(data[:-1])  # truncated inside the latent layer: the header says so
    with pytest.raises(EdmsFormatError, match="truncated"):
        read_edms_layers(path, classlayer.is_class_layer)
    path.write_bytes(data + b"x")
    with pytest.raises(EdmsFormatError, match="over-long"):
        read_edms_layers(path, classlayer.is_class_layer)


def test_info_prints_the_classes(pipelines, tmp_path, capsys) -> None:
    from app.cli import main

    path = tmp_path / "a.edms"
    write_edms(path, _file_with(_probs(4, 0)))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "church" in out and "60.00%" in out and "tench" in out and "classes" in out


_SEARCH = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from app.cli import main
    rc = main(sys.argv[2:])
    assert "torch" not in sys.modules, "edms search imported torch"
    sys.exit(rc)
""")


def _search(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _SEARCH, ROOT, "search", *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_search_lists_files_by_class_without_decoding(pipelines, tmp_path) -> None:
    church = 4  # n03028079
    write_edms(tmp_path / "a.edms", _file_with(_probs(church, 0)))  # church first
    write_edms(tmp_path / "b.edms", _file_with(_probs(0, church)))  # church second
    write_edms(tmp_path / "c.edms", _file_with(_probs(1, 2)))
    image = np.random.default_rng(11).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    real = pipelines["deepsic-bp-pre"].encode(image, {"rate": 1})
    write_edms(tmp_path / "real.edms", real)
    write_edms(tmp_path / "post.edms", pipelines["deepsic-bp-post"].encode(image, {"rate": 1}))
    (tmp_path / "junk.edms").write_bytes(b"EDMS\x01garbage")
    (tmp_path / "other.txt").write_text("church")

    out = _search(str(tmp_path), "--class", "church")
    assert out.returncode == 0, out.stderr
    listed = [line.split("\t")[0] for line in out.stdout.splitlines()]
    real_top = int(real.views["classes"].array[0])
    expect = ["a.edms"] + (["real.edms"] if real_top == church else [])
    assert [Path(x).name for x in listed] == expect
    assert "junk.edms" in out.stderr and "1 file(s) carry no classes" in out.stderr

    out = _search(str(tmp_path), "--class", "CHURCH", "--top", "2")
    names = [Path(line.split("\t")[0]).name for line in out.stdout.splitlines()]
    assert names[:2] == ["a.edms", "b.edms"]

    top_name = IMAGENETTE_NAMES[real_top]
    out = _search(str(tmp_path), "--class", top_name)
    assert "real.edms" in out.stdout

    out = _search(str(tmp_path), "--class", "zebra")
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "no class matches" in out.stderr
    out = _search(str(tmp_path / "missing"), "--class", "church")
    assert out.returncode == 1 and "not a folder" in out.stderr


# --- the trainer -----------------------------------------------------------------------------

def test_train_smoke_resume_export_and_load(tmp_path, monkeypatch) -> None:
    """A fake Imagenette (4 images per class): train, resume, export a loadable network
    with a fitted context table, and encode/decode with it through the pipelines."""
    import json

    from PIL import Image

    from app.classes import IMAGENETTE_CLASSES
    from app.nets import zoo
    from app.pipelines.deepsic_bitplane import BitplanePostPipeline, BitplanePrePipeline
    from app.train import train_main

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i, (wnid, _) in enumerate(IMAGENETTE_CLASSES):
            d = tmp_path / "data" / split / wnid
            d.mkdir(parents=True)
            for j in range(2):
                im = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) // (i + 1)
                Image.fromarray(im).save(d / f"{j}.JPEG")
    Image.fromarray(np.zeros((40, 48), np.uint8)).save(
        tmp_path / "data" / "train" / IMAGENETTE_CLASSES[0][0] / "grey.JPEG")
    run, out = tmp_path / "run", tmp_path / "models"
    common = ["deepsic", "--data", str(tmp_path / "data"), "--threads", "1",
              "--device", "cpu", "--crop", "32", "--batch", "2", "--val-every", "1",
              "--val-per-class", "1", "--fit-images", "3", "--run-dir", str(run),
              "--out", str(out)]
    assert train_main([*common, "--iters", "2"]) == 0
    assert train_main([*common, "--iters", "3", "--resume"]) == 0
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 3
    man = json.loads((out / "deepsic-bp-lite.json").read_text())
    assert man["config"]["heads"] == ["pre", "post"]
    assert {"top1_pre", "top5_post", "psnr", "bpp_rate_model"} <= set(
        man["validation"]["level5"])
    model, _ = zoo.load_model("deepsic-bp", "lite", root=out)
    assert model.context_table.dtype == torch.int32
    assert len(set(model.context_table.tolist())) > 1  # fitted, not the uniform default
    monkeypatch.setenv("EDMS_MODELS_DIR", str(out))
    image = rng.integers(0, 256, (21, 35, 3), dtype=np.uint8)
    for cls in (BitplanePrePipeline, BitplanePostPipeline):
        p = cls()
        assert p.model_fingerprint == zoo.fingerprint("deepsic-bp", "lite", root=out)
        enc = p.encode(image, {"rate": 2})
        assert np.array_equal(p.decode(from_bytes(to_bytes(enc))), enc.reconstruction)
    # a network trained for one variant only serves that variant
    assert train_main([*common, "--iters", "1", "--variant", "post",
                       "--run-dir", str(tmp_path / "run2")]) == 0
    assert BitplanePostPipeline().model_fingerprint == zoo.fingerprint("deepsic-bp-post", "lite",
                                                                      root=out)
    assert BitplanePrePipeline().model_fingerprint == zoo.fingerprint("deepsic-bp", "lite",
                                                                     root=out)


def test_reference_classifier_trains_and_serves_eval(tmp_path, monkeypatch, capsys) -> None:
    """``--variant reference`` (a classifier of DeepSIC's size, no codec) exports
    ``deepsic-ref``, which ``edms eval --task classification --reference deepsic-ref`` runs
    on the decoded images; an unknown reference network is one line, exit 1."""
    import json

    from PIL import Image

    from app.classes import IMAGENETTE_CLASSES
    from app.cli import main
    from app.pipelines.deepsic_bitplane import ReferenceClassifier
    from app.train import train_main

    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for i, (wnid, _) in enumerate(IMAGENETTE_CLASSES[:10]):
            d = tmp_path / "data" / split / wnid
            d.mkdir(parents=True)
            im = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) // (i + 1)
            Image.fromarray(im).save(d / "0.JPEG")
    out = tmp_path / "models"
    assert train_main(["deepsic", "--variant", "reference", "--data", str(tmp_path / "data"),
                       "--threads", "1", "--device", "cpu", "--crop", "32", "--batch", "2",
                       "--iters", "2", "--val-every", "1", "--val-per-class", "1",
                       "--run-dir", str(tmp_path / "run"), "--out", str(out)]) == 0
    man = json.loads((out / "deepsic-ref-lite.json").read_text())
    assert man["config"]["heads"] == ["pre"] and {"top1", "top5"} <= set(man["validation"])
    for name in ("segnet-lite", "classifier-lite"):  # the other shipped networks
        for ext in ("json", "safetensors"):
            src = Path(__file__).resolve().parents[1] / "models" / f"{name}.{ext}"
            (out / src.name).write_bytes(src.read_bytes())
    monkeypatch.setenv("EDMS_MODELS_DIR", str(out))
    top5 = ReferenceClassifier().top5(rng.integers(0, 256, (21, 35, 3), dtype=np.uint8))
    assert sorted(top5) == sorted(set(top5)) and len(top5) == 5
    doc_path = tmp_path / "cls.json"
    assert main(["eval", "--task", "classification", "--reference", "deepsic-ref",
                 "--no-cache", "-p", "jpeg", "-q", "50", "--quiet", "--json", str(doc_path),
                 str(tmp_path / "data" / "val")]) == 0
    doc = json.loads(doc_path.read_text())
    jpeg = next(p for p in doc["pipelines"] if p["name"] == "jpeg")
    assert 0 <= jpeg["results"]["top1"][0] <= 1
    capsys.readouterr()
    assert main(["eval", "--task", "classification", "--reference", "segnet", "--no-cache",
                 "-p", "jpeg", "-q", "50", "--quiet", str(tmp_path / "data" / "val")]) == 1
    assert "--reference 'segnet' is not a classification network" in capsys.readouterr().err


# --- the shipped weights ---------------------------------------------------------------------

def test_shipped_weights_round_trip() -> None:
    from app.nets import zoo
    from app.pipelines import registry

    if not (zoo.models_dir() / "deepsic-bp-lite.json").exists():
        pytest.skip("no shipped deepsic-bp-lite weights in models/")
    image = np.random.default_rng(12).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for name in ("deepsic-bp-pre", "deepsic-bp-post"):
        p = registry.get(name)
        enc = p.encode(image, {"rate": 4})
        dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
        assert np.array_equal(dec, enc.reconstruction)
        assert np.array_equal(views["classes"].array, enc.views["classes"].array)
