"""The CPU half of ``benchmarks/gpu_check.py`` (issue 36), as CI runs it: the learned
pipelines' CPU round trips, the worker's device switch driven headless and a few training
steps of hyperprior, menet and deepsic resumed from their checkpoints; every CUDA check is
reported as skipped, with the reason, and the script exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cpu_half_passes_and_says_what_it_skipped(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"),
                           "--cpu-only", "--quick"], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=240)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "0 failure(s)" in out
    assert "torch CPU ISA" in out  # timings name the CPU
    for section in ("1. learned pipelines", "2. the worker's device switch", "3. training"):
        assert section in out
    assert "ok    Device 'cpu'" in out and "verified by the CPU decoder" in out
    for net in ("hyperprior", "menet", "deepsic"):
        assert f"ok    train {net} lite on the CPU" in out
    assert "skipped: train on CUDA (paper and lite)" in out  # says what it skipped, and why
    assert not list(tmp_path.iterdir())  # the trainers wrote nothing where it ran
