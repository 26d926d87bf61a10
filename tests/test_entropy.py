"""The entropy-coding core: tables, the rANS coder, and bit-exact end-to-end round trips."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from app.container import from_bytes, to_bytes
from app.entropy import coder
from app.entropy.models import (
    PMF_BITS,
    EntropyBottleneck,
    GaussianConditional,
    quantise_pmf,
    scale_indices,
    scale_table,
)
from app.errors import PipelineError


def test_quantised_pmf_sums_to_precision_and_has_no_zero() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 17, 400, 3000):
        p = rng.random(n) ** 8
        p[rng.integers(0, n)] = 0.0
        f = quantise_pmf(p)
        assert f.sum() == 1 << PMF_BITS
        assert f.min() >= 1
        assert np.array_equal(f, quantise_pmf(p.copy()))


def test_scale_table_and_indices() -> None:
    t = scale_table()
    assert t.shape == (64,)
    assert float(t[0]) == pytest.approx(0.11, rel=1e-6)
    assert float(t[-1]) == pytest.approx(256.0, rel=1e-5)
    idx = scale_indices(torch.tensor([0.0, 0.11, 0.1101, 255.0, 1e6]))
    assert idx.tolist()[:2] == [0, 0]
    assert idx.tolist()[2] == 1
    assert idx.tolist()[-1] == 63
    # every index's table scale is >= the scale it was chosen for
    s = torch.linspace(0.11, 256, 1000)
    assert bool((t[scale_indices(s)] >= s * (1 - 1e-6)).all())


@pytest.fixture(scope="module")
def gaussian_tables() -> coder.TableSet:
    freqs = GaussianConditional().tables()
    return coder.TableSet(freqs, [-((f.size - 1) // 2) for f in freqs])


def test_coder_round_trip_with_escapes(gaussian_tables: coder.TableSet) -> None:
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 64, size=(7, 13, 5))
    values = np.round(rng.normal(size=idx.shape) * scale_table().numpy()[idx]).astype(np.int64)
    values[0, 0, 0], values[3, 2, 1], values[6, 12, 4] = 4000, -30000, 77
    data = coder.encode(values, idx, gaussian_tables)
    assert np.array_equal(coder.decode(data, idx, gaussian_tables), values)


def test_coder_costs_close_to_the_ideal(gaussian_tables: coder.TableSet) -> None:
    rng = np.random.default_rng(2)
    idx = rng.integers(5, 50, size=20000)
    scales = scale_table()[torch.from_numpy(idx)]
    values = np.round(rng.normal(size=idx.shape) * scales.numpy()).astype(np.int64)
    ideal = float(-torch.log2(GaussianConditional.likelihood(
        torch.from_numpy(values).float(), scales)).sum()) / 8
    actual = len(coder.encode(values, idx, gaussian_tables))
    assert ideal * 0.99 < actual < ideal * 1.02 + 16


def test_coder_refuses_out_of_range_values(gaussian_tables: coder.TableSet) -> None:
    with pytest.raises(PipelineError, match="out of the coder's range"):
        coder.encode(np.array([40000]), np.array([3]), gaussian_tables)


def test_one_stream_holds_chunks_read_in_order(gaussian_tables: coder.TableSet) -> None:
    """A layer's coding steps share one stream: pushed last first, popped in order, each
    with its own tables (escapes included), and smaller than one stream per step."""
    rng = np.random.default_rng(5)
    chunks = []
    for n in (40, 0, 300, 7, 1):
        idx = rng.integers(0, 64, size=n)
        values = np.round(rng.normal(size=n) * scale_table().numpy()[idx]).astype(np.int64)
        chunks.append((values, idx))
    chunks[2][0][5] = -2000  # an escape inside a middle chunk
    enc = coder.StackEncoder(gaussian_tables)
    for values, idx in reversed(chunks):
        enc.push(values, idx)
    data = enc.finish()
    dec = coder.StackDecoder(data, gaussian_tables)
    for values, idx in chunks:
        assert np.array_equal(dec.pop(idx), values)
    dec.close()
    separate = sum(len(coder.encode(v, i, gaussian_tables)) for v, i in chunks)
    assert len(data) < separate
    # a stream with symbols beyond the last chunk is refused
    with pytest.raises(PipelineError, match="data left"):
        coder.decode(data, chunks[0][1], gaussian_tables)


def test_damaged_stream_is_an_error_or_different_values(gaussian_tables: coder.TableSet
                                                        ) -> None:
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 64, size=500)
    values = np.round(rng.normal(size=500) * 3).astype(np.int64)
    data = bytearray(coder.encode(values, idx, gaussian_tables))
    data[len(data) // 2] ^= 0x40
    try:
        back = coder.decode(bytes(data), idx, gaussian_tables)
    except PipelineError:
        return
    assert not np.array_equal(back, values)
    with pytest.raises(PipelineError):
        coder.decode(bytes(data[:-1]), idx, gaussian_tables)


def test_bottleneck_tables_cover_its_density() -> None:
    torch.manual_seed(0)
    eb = EntropyBottleneck(4)
    tabs = eb.tables()
    assert len(tabs) == 4
    assert all(t.sum() == 1 << PMF_BITS and t.min() >= 1 for t in tabs)


# --- the end-to-end pipelines with random-weight lite networks ---------------------------

def _pipelines():
    from app.nets.hyperprior import CONFIGS, ScaleHyperprior
    from app.nets.menet import CONFIGS as MCONFIGS
    from app.nets.menet import MENet
    from app.pipelines.endtoend import HyperpriorPipeline
    from app.pipelines.menet import MenetNoEnhancePipeline, MenetPipeline

    torch.manual_seed(0)
    hp = HyperpriorPipeline(ScaleHyperprior(**CONFIGS["lite"]), b"random01")
    torch.manual_seed(0)
    me = MENet(**MCONFIGS["lite"])
    return {"hyperprior": hp, "menet": MenetPipeline(me, b"random02"),
            "menet-noenh": MenetNoEnhancePipeline(me, b"random02")}


@pytest.fixture(scope="module")
def e2e_pipelines():
    return _pipelines()


SIZES = [(1, 1), (13, 7), (7, 13), (64, 64), (65, 63), (1025, 9), (17, 1041)]


@pytest.mark.parametrize("name", ["hyperprior", "menet", "menet-noenh"])
def test_round_trip_bit_exact_at_odd_sizes(e2e_pipelines, name: str) -> None:
    p = e2e_pipelines[name]
    rng = np.random.default_rng(5)
    for h, w in SIZES:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        enc = p.encode(image, {"quality": 1 + (h * w) % 8})
        dec = p.decode(from_bytes(to_bytes(enc)))
        assert dec.shape == (h, w, 3)
        assert np.array_equal(dec, enc.reconstruction), (name, h, w)
        if name != "hyperprior":
            assert enc.views["segmentation"].array.shape == (h, w)


@pytest.mark.parametrize("name", ["hyperprior", "menet"])
def test_only_the_latent_covering_the_image_is_coded(e2e_pipelines, monkeypatch,
                                                     name: str) -> None:
    """The image is padded to a multiple of 16, not 64: a 40x72 image has a 3x5 latent
    (not 4x8) and a 1x2 hyper-latent, and exactly those elements reach the coder in the
    encoder and the decoder (the hyper-analysis' padding to 4x8 stays in the encoder)."""
    p = e2e_pipelines[name]
    counts: list[int] = []
    real_push, real_pop = coder.StackEncoder.push, coder.StackDecoder.pop

    def spy_push(self, values, indexes):  # noqa: ANN001, ANN202
        counts.append(int(np.asarray(values).size))
        return real_push(self, values, indexes)

    def spy_pop(self, indexes):  # noqa: ANN001, ANN202
        counts.append(int(np.asarray(indexes).size))
        return real_pop(self, indexes)

    monkeypatch.setattr(coder.StackEncoder, "push", spy_push)
    monkeypatch.setattr(coder.StackDecoder, "pop", spy_pop)
    image = np.random.default_rng(9).integers(0, 256, (40, 72, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 5, "edges": 0})  # the latents alone reach the coder
    encoded_counts = list(counts)
    counts.clear()
    assert np.array_equal(p.decode(from_bytes(to_bytes(enc))), enc.reconstruction)
    z_channels = int(p.model.entropy_bottleneck.channels)
    latent = sum(p.part_channels()) * 3 * 5
    assert encoded_counts[0] == z_channels * 1 * 2
    assert sum(encoded_counts[1:]) == latent
    assert sorted(counts) == sorted(encoded_counts)


def test_menet_decoder_returns_the_segmentation_it_carries(e2e_pipelines) -> None:
    p = e2e_pipelines["menet"]
    image = np.random.default_rng(6).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 3})
    dec, views = p.decode_with_views(from_bytes(to_bytes(enc)))
    assert np.array_equal(views["segmentation"].array, enc.views["segmentation"].array)
    assert views["bits"].array.shape == (-(-40 // 16), -(-70 // 16))
    assert float(views["bits"].array.sum()) > 0


def test_layer_names_tell_the_two_menet_latents_apart(e2e_pipelines) -> None:
    """The byte breakdown names each layer: MENet's two LATENT layers are z_x and ẑ_s."""
    from app.pipelines.base import Layer, LayerKind, Pipeline

    image = np.random.default_rng(8).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    hp, me = e2e_pipelines["hyperprior"], e2e_pipelines["menet"]
    off = {"quality": 2, "edges": 0}
    hp_enc, me_enc = hp.encode(image, off), me.encode(image, off)
    assert hp.layer_names(hp_enc.layers) == ["side info", "latent"]
    assert me.layer_names(me_enc.layers) == ["side info", "image latent", "semantic latent"]
    edge = Layer(LayerKind.RESIDUAL, 9, b"")  # the optional edge offsets, last
    assert me.layer_names([*me_enc.layers, edge])[-1] == "edge offsets"
    # the default numbers a kind that occurs more than once, and names unknown kinds
    layers = [Layer(LayerKind.LATENT, 0, b""), Layer(LayerKind.LATENT, 0, b""),
              Layer(9, 0, b"")]  # type: ignore[arg-type]
    assert Pipeline().layer_names(layers) == ["latent 1", "latent 2", "kind 9"]


def test_file_header_names_menet_layers_without_torch(tmp_path) -> None:
    """``edms info`` and the GUI's header text name the layers from the spec: a fresh
    process describing a MENet file imports no torch and tells the two latents apart."""
    import json
    from pathlib import Path

    golden = Path(__file__).parent / "data" / "menet-v6.edms"
    code = ("import json, sys; from app.container import describe; "
            f"d = describe({str(golden)!r}); "
            "print(json.dumps([[la['name'] for la in d['layers']], 'torch' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent).stdout
    names, torch_loaded = json.loads(out)
    assert names == ["side info", "image latent", "semantic latent", "check"]
    assert torch_loaded is False
    from app.container import describe
    from app.workbench import header_text

    text = header_text("m.edms", describe(golden))
    assert "layer 2: semantic latent" in text


def test_quality_orders_the_rate(e2e_pipelines) -> None:
    """Gain units: larger quality, larger gains... at least different bitstreams."""
    p = e2e_pipelines["hyperprior"]
    image = np.random.default_rng(7).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    a = to_bytes(p.encode(image, {"quality": 1}))
    b = to_bytes(p.encode(image, {"quality": 8}))
    assert a != b


_FRESH = textwrap.dedent("""
    import sys, hashlib
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    sys.path.insert(0, sys.argv[3])
    from tests.test_entropy import _pipelines
    from app.container import from_bytes
    p = _pipelines()[sys.argv[2]]
    data = sys.stdin.buffer.read()
    print(hashlib.sha256(p.decode(from_bytes(data)).tobytes()).hexdigest())
""")


@pytest.mark.parametrize("threads", [1, 2])
def test_fresh_process_decodes_identically(e2e_pipelines, threads: int) -> None:
    import hashlib
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    p = e2e_pipelines["menet"]
    image = np.random.default_rng(8).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    enc = p.encode(image, {"quality": 6})
    out = subprocess.run([sys.executable, "-c", _FRESH, str(threads), "menet", root],
                         input=to_bytes(enc), capture_output=True, check=True, cwd=root)
    assert out.stdout.decode().strip() == hashlib.sha256(enc.reconstruction.tobytes()
                                                         ).hexdigest()


def test_bit_map_view_is_drawn_over_its_blocks() -> None:
    from app.pipelines.base import View, ViewKind
    from app.session import view_to_rgb

    bits = np.array([[0.0, 10.0], [5.0, 20.0]], np.float32)
    rgb = view_to_rgb(View(ViewKind.BIT_MAP, bits, scale=16))
    assert rgb.shape == (32, 32, 3)
    assert rgb[0, 0].tolist() == [0, 0, 0]  # no bits: black
    assert rgb[31, 31].tolist() == [255, 255, 255]  # the most: white
    assert View(ViewKind.BIT_MAP, bits, scale=16).crop(17, 5).array.shape == (2, 1)


def _menet_file(e2e_pipelines):  # noqa: ANN001, ANN202
    from app import api

    p = e2e_pipelines["menet"]
    image = np.random.default_rng(9).integers(0, 256, (50, 61, 3), dtype=np.uint8)
    coded = api.code(p, p.prepare(image), {"quality": 4})
    return p, coded


def test_file_carries_a_reconstruction_check(e2e_pipelines) -> None:
    from app import api
    from app.pipelines.base import LayerKind

    p, coded = _menet_file(e2e_pipelines)
    kinds = [layer.kind for layer in from_bytes(coded.data).layers]
    assert kinds[-1] == LayerKind.CHECK and coded.data[4] == 2  # format version 2
    image, _ = api.decode_checked(p, coded.data, coded.encoded.reconstruction)
    assert np.array_equal(image, coded.encoded.reconstruction)


def test_flipped_latent_byte_is_refused_by_the_container(e2e_pipelines) -> None:
    from app.container import EdmsFormatError

    _, coded = _menet_file(e2e_pipelines)
    data = bytearray(coded.data)
    data[-20] ^= 0x01  # inside the last latent layer's payload
    with pytest.raises(EdmsFormatError, match="CRC-32 mismatch"):
        from_bytes(bytes(data))


def test_decoder_with_other_weights_refuses_the_file(e2e_pipelines) -> None:
    from app import api
    from app.pipelines.menet import MenetPipeline

    p, coded = _menet_file(e2e_pipelines)
    other = MenetPipeline(p.model, b"otherfp1")
    with pytest.raises(PipelineError, match="model weights"):
        api.check_compatible(other, from_bytes(coded.data))


def test_check_catches_a_decoder_with_different_probabilities(e2e_pipelines,
                                                               monkeypatch) -> None:
    """One scale index off by one in the decoder: an error, never a wrong image."""
    from app import api
    from app.pipelines import endtoend

    p, coded = _menet_file(e2e_pipelines)
    real = endtoend.scale_indices
    calls = []

    def perturbed(scales):  # noqa: ANN001, ANN202
        idx = real(scales)
        calls.append(1)
        idx.view(-1)[idx.numel() // 2] = (idx.view(-1)[idx.numel() // 2] + 1) % 64
        return idx

    monkeypatch.setattr(endtoend, "scale_indices", perturbed)
    with pytest.raises(PipelineError, match="decoded differently|latent stream is damaged"):
        api.decode_checked(p, coded.data, None)
    assert calls


def test_check_catches_a_decoder_computing_other_network_outputs(e2e_pipelines,
                                                                 monkeypatch) -> None:
    from app import api

    p, coded = _menet_file(e2e_pipelines)
    real = p.synthesise

    def drifted(lat, h, w, views, quality=None):  # noqa: ANN001, ANN202
        out = real(lat, h, w, views, quality).copy()
        out[0, 0, 0] ^= 1  # one pixel's lowest bit, as a different float order might
        return out

    monkeypatch.setattr(p, "synthesise", drifted)
    with pytest.raises(PipelineError, match="decoded differently from the encoder"):
        api.decode_checked(p, coded.data, None)
