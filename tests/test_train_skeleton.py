"""The trainer skeleton of :mod:`app.train.common` (issue 35 item 4, issue 36): options,
precision, device-independent checkpoints, the default export folder under ``runs/`` and
the explicit, sha256-checked shipping step into ``models/``."""

from __future__ import annotations

import argparse
import json

import pytest

torch = pytest.importorskip("torch")

from app.train import build_parser, common, train_main  # noqa: E402


def test_every_trainer_takes_the_common_options_and_keeps_its_own() -> None:
    p = build_parser()
    a = p.parse_args(["hyperprior", "--data", "d", "--device", "cuda", "--amp", "bf16",
                      "--loader-workers", "2", "--seed", "5", "--resume"])
    assert (a.device, a.amp, a.loader_workers, a.seed, a.resume) == ("cuda", "bf16", 2, 5, True)
    assert a.out is None  # exports go to the run folder unless --out says otherwise
    # PostNet's own --seed (its pair plan) and --workers (its encoders) keep their meaning
    a = p.parse_args(["postnet", "--data", "d", "--seed", "7", "--workers", "3"])
    assert (a.seed, a.workers, a.loader_workers) == (7, 3, None)
    assert p.parse_args(["postnet", "--data", "d"]).seed == 99


def test_precision_follows_the_device() -> None:
    cpu = torch.device("cpu")
    assert common.amp_dtype("auto", cpu) is None  # float32 on the CPU unless asked
    assert common.amp_dtype("bf16", cpu) is torch.bfloat16
    assert common.amp_dtype("off", torch.device("cuda")) is None
    env = common.Setup(cpu, torch.bfloat16, 0, 0)
    with env.autocast():
        y = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert y.dtype == torch.bfloat16
    assert common.Setup(cpu, None, 0, 0).describe()["precision"] == "float32"


def test_batches_on_the_cpu_are_the_stream_itself() -> None:
    env = common.Setup(torch.device("cpu"), None, 0, 0)
    seen = []

    def make(i: int):
        seen.append(i)
        n = 0
        while True:
            n += 1
            yield torch.full((2,), float(n)), n

    it = common.batches(make, env)
    assert next(it)[1] == 1 and next(it)[1] == 2 and seen == [0]


def test_checkpoints_hold_cpu_tensors(tmp_path) -> None:
    w = torch.nn.Parameter(torch.ones(2))
    obj = {"model": {"w": w}, "step": 3, "list": [torch.zeros(1)], "t": (w,)}
    moved = common.to_cpu(obj)
    assert not moved["model"]["w"].requires_grad and isinstance(moved["t"], tuple)
    common.atomic_save(obj, tmp_path / "last.pt")
    ck = common.load_checkpoint(tmp_path / "last.pt")  # weights_only, map_location="cpu"
    assert ck["step"] == 3 and ck["list"][0].device.type == "cpu"
    assert torch.equal(ck["model"]["w"], torch.ones(2))


def test_ship_checks_the_sha256_then_copies(tmp_path) -> None:
    run = tmp_path / "runs" / "x"
    common.export_safetensors({"w": torch.ones(3)}, run, "net-lite", {"steps": 4})
    man = json.loads((run / "net-lite.json").read_text())
    assert man["steps"] == 4 and len(man["sha256"]) == 64
    models = tmp_path / "models"
    assert train_main(["ship", str(run / "net-lite.json"), "--models", str(models)]) == 0
    assert (models / "net-lite.safetensors").read_bytes() == \
        (run / "net-lite.safetensors").read_bytes()
    (run / "net-lite.safetensors").write_bytes(b"tampered")
    with pytest.raises(SystemExit, match="not shipped"):
        common.ship(run / "net-lite.json", tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_the_loop_exports_under_the_run_folder_by_default(tmp_path) -> None:
    args = argparse.Namespace(run_dir=None, config="lite", out=None, resume=False,
                              minutes=None, val_every=10, ckpt_minutes=5.0)
    loop = common.TrainLoop(args, "net", 2, {"model": torch.nn.Linear(1, 1)})
    assert str(loop.out_dir) == "runs/net-lite" == str(loop.run_dir)


def _counting(i: int):
    n = 0
    while True:
        n += 1
        yield torch.full((2,), float(100 * i + n))


def test_batches_with_workers_come_from_worker_processes() -> None:
    """The CUDA default (a DataLoader of worker streams), run on the CPU with one worker:
    worker 0 runs stream 0, in order."""
    env = common.Setup(torch.device("cpu"), None, 1, 0)
    it = common.batches(_counting, env)
    assert [float(next(it)[0]) for _ in range(3)] == [1.0, 2.0, 3.0]
