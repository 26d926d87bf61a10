"""Shared training plumbing: devices, threads, checkpoints, fp16 safetensors export, manifests.

Checkpoints (``runs/<name>-<config>/last.pt`` and ``best.pt``) are written with
``torch.save`` but hold only tensors, numbers, strings, lists and dicts, so they load with
``torch.load(..., weights_only=True)``. Shipped weights are fp16 safetensors plus a JSON
manifest (see :mod:`app.nets.zoo`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import signal
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from app.nets.zoo import sha256_file


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    return torch.device(name)


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):  # already set once in this process
            torch.set_num_interop_threads(1)


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file then rename, so a kill never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True``: no pickled code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def add_schedule_args(p: argparse.ArgumentParser, lr: float | None = None,
                      val_every: int = 250) -> None:
    """The step/batch/crop/LR/validation/checkpoint options every trainer shares."""
    p.add_argument("--iters", type=int, default=None, help="total steps (schedule length)")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--crop", type=int, default=None, help="crop side in pixels")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--val-every", type=int, default=val_every, help="steps between validations")
    p.add_argument("--ckpt-minutes", type=float, default=5.0, help="minutes between checkpoints")
    p.add_argument("--limit", type=int, default=None, help="use only N frames per split (smoke)")


def export_safetensors(
    state: dict[str, torch.Tensor],
    out_dir: Path,
    stem: str,
    manifest: dict[str, Any],
) -> Path:
    """Write ``<stem>.safetensors`` (floating tensors as fp16) and ``<stem>.json``.

    ``manifest`` gets ``file``, ``sha256``, ``dtype``, ``date``, ``torch`` added.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked"):
            continue
        v = v.detach().to("cpu")
        tensors[k] = (v.half() if v.is_floating_point() else v).contiguous()
    st = out_dir / f"{stem}.safetensors"
    tmp = st.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, st)
    os.chmod(st, 0o644)
    man = dict(manifest)
    man.update(
        file=st.name,
        sha256=sha256_file(st),
        dtype="float16",
        date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        torch=torch.__version__,
        python=platform.python_version(),
    )
    jt = out_dir / f"{stem}.json.tmp"
    jt.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    os.replace(jt, out_dir / f"{stem}.json")
    return st


class Budget:
    """Stop condition: wall-clock minutes (None = unlimited) measured from construction."""

    def __init__(self, minutes: float | None) -> None:
        import time

        self._time = time.monotonic
        self.t0 = self._time()
        self.minutes = minutes

    def elapsed_min(self) -> float:
        return (self._time() - self.t0) / 60.0

    def over(self) -> bool:
        return self.minutes is not None and self.elapsed_min() >= self.minutes


def install_sigterm() -> threading.Event:
    """Turn SIGTERM/SIGINT into a flag so the loop can write a last checkpoint and exit."""
    ev = threading.Event()

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        ev.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
    return ev


class Progress:
    """Schedule position p in [0, 1]: ``max(step / iters, time share of --minutes)``.

    With ``--minutes M`` the remaining part of the schedule (from the checkpoint's
    ``p0``) is stretched or squeezed to end after M minutes, so the learning rate has
    decayed when the budget runs out however busy the machine is; without it the schedule
    follows the step count alone. Training stops at p = 1.
    """

    def __init__(self, iters: int, minutes: float | None, p0: float = 0.0) -> None:
        import time

        self._time = time.monotonic
        self.t0 = self._time()
        self.iters, self.minutes, self.p0 = iters, minutes, p0

    def __call__(self, step: int) -> float:
        p = step / max(1, self.iters)
        if self.minutes:
            share = (self._time() - self.t0) / (60.0 * self.minutes)
            p = max(p, self.p0 + (1.0 - self.p0) * share)
        return min(1.0, p)
