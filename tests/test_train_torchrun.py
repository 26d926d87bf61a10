"""Data-parallel training under torchrun: two CPU processes (gloo) train SegNet lite for a few
steps on a tiny CamVid-layout set, end with identical weights, and the checkpoint resumes in
one process. Plus the helpers of :mod:`app.train.distributed` outside a process group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image

from app.train import distributed

DIGEST = re.compile(r"^digest rank (\d+)/(\d+) step (\d+) params ([0-9a-f]{64}) "
                    r"state ([0-9a-f]{64})$", re.M)
SHARD = re.compile(r"^rank (\d+)/2: (\d+) of (\d+) training items$", re.M)


def _camvid(root: Path, n_train: int = 4, n_val: int = 2) -> Path:
    """A CamVid-layout folder of small PNGs (blocky labels, images derived from them)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        for i in range(n):
            lab = rng.integers(0, 12, (6, 8)).repeat(12, 0).repeat(12, 1).astype(np.uint8)
            img = (lab[..., None].astype(np.int64) * (20, 7, 13) % 200).astype(np.uint8)
            img += rng.integers(0, 50, img.shape, dtype=np.uint8)
            Image.fromarray(img).save(root / split / f"f{i}.png")
            Image.fromarray(lab).save(root / f"{split}annot" / f"f{i}.png")
    return root


def _run(cmd: list[str], cwd: Path, timeout: float = 150) -> str:
    """Run ``cmd`` in its own session; on timeout kill the whole group (torchrun and its
    workers). Returns stdout + stderr; fails the test on a non-zero exit."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(EDMS_TRAIN_DIGEST="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"timed out after {timeout} s:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def _train_args(data: Path, tmp: Path, iters: int) -> list[str]:
    return ["-m", "app.train", "segnet", "--data", str(data), "--device", "cpu",
            "--threads", "1", "--iters", str(iters), "--batch", "2", "--crop", "64",
            "--val-every", "1000", "--run-dir", str(tmp / "run"), "--out", str(tmp / "out")]


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                    reason="torch.distributed with gloo is not available in this torch build")
def test_two_cpu_processes_agree_and_resume_in_one(tmp_path):
    data = _camvid(tmp_path / "camvid")
    # --standalone: torchrun's own rendezvous on a free local port
    out = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2", *_train_args(data, tmp_path, 4)], tmp_path)

    assert "distributed: 2 processes, backend gloo" in out
    shards = {int(r): (int(n), int(total)) for r, n, total in SHARD.findall(out)}
    assert shards == {0: (2, 4), 1: (2, 4)}, out[-3000:]
    digests = {int(r): (w, s, p, st) for r, w, s, p, st in DIGEST.findall(out)}
    assert sorted(digests) == [0, 1], out[-3000:]
    assert all(w == "2" and s == "4" for w, s, _, _ in digests.values()), out[-3000:]
    # both ranks hold the same parameters (DDP averaged the gradients of different crops of
    # different frames) and the same state, and that state is the checkpoint rank 0 wrote
    assert digests[0][2] == digests[1][2]
    assert digests[0][3] == digests[1][3]
    ck = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 4
    assert distributed.digest(ck["model"]) == digests[0][3]
    assert not any(k.startswith("module.") for k in ck["model"])  # the unwrapped module's
    assert (tmp_path / "out" / "segnet-lite.safetensors").exists()
    assert out.count("stopped (schedule done) at step 4") == 1  # rank 0 alone reports

    # the same checkpoint continues in one process (no torchrun, no process group)
    out1 = _run([sys.executable, *_train_args(data, tmp_path, 6), "--resume"], tmp_path)
    assert "distributed:" not in out1
    assert "resumed from" in out1 and "at step 4" in out1
    one = DIGEST.findall(out1)
    assert [(r, w, s) for r, w, s, _, _ in one] == [("0", "1", "6")]
    ck = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert ck["step"] == 6
    assert distributed.digest(ck["model"]) == one[0][4] != digests[0][3]


def test_helpers_without_a_process_group():
    assert not distributed.active()
    assert (distributed.rank(), distributed.world_size(), distributed.seed_offset()) == (0, 1, 0)
    items = list(range(5))
    assert distributed.shard(items) == items
    assert distributed.agree_max([0.25, 1.0]) == [0.25, 1.0]
    net = torch.nn.Linear(2, 2)
    assert distributed.wrap(net) is net
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    m = distributed.Methods(net)
    x = torch.ones(1, 2)
    assert torch.equal(m("forward", x), net(x))


def test_digest_sees_names_values_and_dtypes():
    a = {"w": torch.arange(4.0), "n": torch.tensor(3)}
    base = distributed.digest(a)
    assert distributed.digest(dict(reversed(a.items()))) == base
    assert distributed.digest({**a, "w": torch.tensor([0.0, 1.0, 2.0, 3.5])}) != base
    assert distributed.digest({**a, "w": torch.arange(4.0).double()}) != base
    assert distributed.digest({"v": a["w"], "n": a["n"]}) != base
