"""The Device choice: the encoder's analysis networks move, the decoder's stay on the CPU.

The CUDA test runs where torch sees a GPU and is skipped, saying so, elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app import api
from app.nets.smic import build_recnet, build_ssnet
from app.pipelines.netrun import module_on
from app.pipelines.smic import SmicNets, SmicPipeline

CUDA = torch.cuda.is_available()


def _pipe() -> SmicPipeline:
    torch.manual_seed(0)
    nets = SmicNets.from_modules(build_ssnet("lite"), build_recnet("lite"), b"random01")
    return SmicPipeline(nets=nets)


def _image(h: int = 40, w: int = 56) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_module_on_copies_and_never_moves_the_cpu_module() -> None:
    net = torch.nn.Conv2d(3, 4, 3)
    copies: dict = {}
    assert module_on(net, torch.device("cpu"), copies) is net and not copies
    other = module_on(net, torch.device("meta"), copies)  # any non-CPU device will do
    assert other is not net and other.weight.device.type == "meta"
    assert net.weight.device.type == "cpu"  # the decoder's module stays where it was
    assert module_on(net, torch.device("meta"), copies) is other  # made once


def test_pipelines_without_networks_ignore_the_device() -> None:
    from app.pipelines import registry

    hevc = registry.get("hevc")
    assert hevc.to("cuda") is False and hevc.analysis_device == "cpu"


def test_cpu_choice_keeps_the_encoding_identical() -> None:
    pipe, image = _pipe(), _image()
    before = api.code(pipe, pipe.prepare(image), {"qp": 30, "factor": 4}).data
    assert pipe.to("cpu") is True and pipe.analysis_device == "cpu"
    after = api.round_trip(pipe, pipe.prepare(image), {"qp": 30, "factor": 4})
    assert after.data == before


@pytest.mark.skipif(not CUDA, reason="torch sees no CUDA device on this machine: the "
                    "GPU path of the Device choice cannot run here")
def test_cuda_analysis_decodes_bit_exactly_on_the_cpu() -> None:
    pipe, image = _pipe(), _image()
    try:
        assert pipe.to("cuda") is True and pipe.analysis_device == "cuda"
        trip = api.round_trip(pipe, pipe.prepare(image), {"qp": 30, "factor": 4})
        assert np.array_equal(trip.decoded, trip.encoded.reconstruction)
        assert pipe.nets.recnet.out.weight.device.type == "cpu"  # the decoder's network
        # a fresh CPU-only decoder rebuilds the same image from the bytes
        cpu = _pipe()
        assert np.array_equal(api.decode_checked(cpu, trip.data, trip.decoded)[0],
                              trip.decoded)
    finally:
        pipe.to("cpu")


def _hyperprior():  # noqa: ANN202 - a HyperpriorPipeline
    from app.nets import hyperprior as hp
    from app.pipelines.endtoend import HyperpriorPipeline

    torch.manual_seed(0)
    return HyperpriorPipeline(model=hp.ScaleHyperprior(N=16, M=16), fingerprint=b"random01")


def test_end_to_end_analysis_can_move_and_the_cpu_choice_changes_nothing() -> None:
    pipe, image = _hyperprior(), _image()
    before = api.code(pipe, pipe.prepare(image), {"quality": 5}).data
    assert pipe.to("cpu") is True and pipe.analysis_device == "cpu"
    assert api.round_trip(pipe, pipe.prepare(image), {"quality": 5}).data == before


@pytest.mark.skipif(not CUDA, reason="torch sees no CUDA device on this machine: the "
                    "GPU path of the Device choice cannot run here")
def test_cuda_analysis_of_the_end_to_end_codec_decodes_bit_exactly_on_the_cpu() -> None:
    pipe, image = _hyperprior(), _image()
    try:
        assert pipe.to("cuda") is True and pipe.analysis_device == "cuda"
        trip = api.round_trip(pipe, pipe.prepare(image), {"quality": 5})
        assert np.array_equal(trip.decoded, trip.encoded.reconstruction)
        assert next(pipe.model.parameters()).device.type == "cpu"  # the model never moves
        cpu = _hyperprior()  # a CPU-only decoder with the same weights
        assert np.array_equal(api.decode_checked(cpu, trip.data, trip.decoded)[0],
                              trip.decoded)
    finally:
        pipe.to("cpu")
