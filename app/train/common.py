"""The trainer skeleton every ``edms train NET`` shares (issue 35, item 4; issue 36).

What the skeleton owns, so that a trainer supplies only its model, data, loss and
validation:

- **arguments**: the options of every trainer (:func:`add_common_args`: data, config,
  ``--resume``, ``--device``, ``--amp``, ``--workers``, ``--seed``, ``--out``, ...) and the
  schedule's (:func:`add_schedule_args`), whose defaults are the trainer's ``DEFAULTS``
  table of :class:`Schedule` per configuration (:func:`schedule`);
- **device, precision, seeds** (:func:`setup`): ``--device auto|cpu|cuda`` (under
  torchrun ``cuda:LOCAL_RANK``), autocast in bfloat16 on a CUDA device that supports it
  and off on the CPU unless asked (:class:`Setup.autocast`), deterministic seeds;
- **data loading** (:func:`batches`): on CUDA the endless batch streams run in DataLoader
  worker processes with pinned memory and non-blocking copies; on the CPU they run in
  the training process, as they always did (same crops for the same seed);
- **the loop** (:class:`TrainLoop`): progress schedule, periodic validation, the choice of
  the best checkpoint, periodic and on-signal checkpoints, ``--resume``, torchrun; a
  one-network trainer starts it, resumed and seeded, with :func:`start`;
- **export** (:func:`export_safetensors`): fp16 safetensors plus a JSON manifest (config,
  sha256, training data, steps, validation numbers, device and precision), written under
  ``runs/<net>-<config>/`` by default. Shipping into ``models/`` is the explicit
  ``edms train ship MANIFEST`` step (:func:`ship`), which verifies the sha256 first.

Checkpoints (``last.pt``, ``best.pt``) are device-independent: every tensor is moved to
the CPU before ``torch.save``, they hold only tensors, numbers, strings, lists and dicts,
and they are read with ``torch.load(..., map_location="cpu", weights_only=True)`` (no
pickled code), so a checkpoint written on CUDA resumes on the CPU and the other way round
(the optimiser's state follows its parameters' device on load). Shipped weights are never
pickles: fp16 safetensors plus the manifest (see :mod:`app.nets.zoo`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import random
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors.torch import save_file

from app.nets.zoo import sha256_file
from app.train import distributed


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu.

    Under torchrun (``WORLD_SIZE`` > 1) a CUDA process gets ``cuda:LOCAL_RANK`` and every
    process joins the process group here (:func:`app.train.distributed.setup`), before
    the trainer loads its shard of the data.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    device = distributed.device_for(name)
    distributed.setup(device)
    return device


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):  # already set once in this process
            torch.set_num_interop_threads(1)


def add_common_args(p: argparse.ArgumentParser) -> None:
    """The options every ``edms train NET`` takes (the skeleton's), added after the
    trainer's own (its ``add_args``): an option the trainer already defines is its own
    (PostNet's ``--seed`` seeds its training-pair plan, and seeds the run too)."""
    have = set(p._option_string_actions)

    def add(flag: str, **kw: Any) -> None:
        if flag not in have:
            p.add_argument(flag, **kw)

    add("--data", required=True, help="dataset folder (CamVid, Cityscapes, images)")
    add("--config", choices=("lite", "paper"), default="lite")
    add("--resume", action="store_true", help="continue from runs/<net>-<config>/")
    add("--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="auto: CUDA when torch sees one, else the CPU")
    add("--amp", choices=("auto", "bf16", "off"), default="auto",
        help="mixed precision: auto = bfloat16 autocast on a CUDA device that supports it, "
        "off on the CPU; bf16 forces it (CPU too); off: float32")
    add("--loader-workers", type=int, default=None,
        help="data-loading worker processes (default: 4 on CUDA, 0 on the CPU)")
    add("--seed", type=int, default=0, help="added to every random seed of the run")
    add("--threads", type=int, default=None, help="torch CPU threads")
    add("--minutes", type=float, default=None, help="wall-clock budget")
    add("--out", default=None,
        help="where the best weights and their manifest are exported (default: the run "
        "folder; `edms train ship MANIFEST` copies them into models/)")
    add("--run-dir", default=None, help="checkpoint folder (runs/<net>-<config>)")


@dataclass
class Setup:
    """Where and how a training runs (:func:`setup`): the device, whether autocast is on
    and in which type, and the number of data-loading workers."""

    device: torch.device
    amp_dtype: torch.dtype | None
    workers: int
    seed: int

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward pass's precision: ``torch.autocast`` in :attr:`amp_dtype`, or
        nothing (float32). bfloat16 keeps float32's exponent range, so no loss scaling is
        needed (no ``GradScaler``); losses are computed in float32 after it."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def describe(self) -> dict[str, Any]:
        """For the manifest: device kind, precision, workers, seed, processes."""
        return {"device": (torch.cuda.get_device_name(self.device) if self.cuda
                           else f"cpu ({platform.machine()})"),
                "precision": "float32" if self.amp_dtype is None
                else f"autocast {str(self.amp_dtype).removeprefix('torch.')}",
                "workers": self.workers, "seed": self.seed,
                "processes": distributed.world_size()}


def amp_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """``--amp``: ``auto`` is bfloat16 on a CUDA device that supports it (Ampere and
    later) and float32 elsewhere; ``bf16`` asks for it anywhere (CPU autocast has it);
    ``off`` is float32."""
    if choice == "off":
        return None
    if choice == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and torch's (all devices') generators (the trainers also seed
    their own: the crops, flips and draws of a run are the same for the same seed). CUDA
    kernels are not forced to be deterministic: cuDNN picks the fastest algorithm for
    the fixed crop size, so two CUDA runs agree in distribution, not bit for bit (a CPU
    run is reproducible)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup(args: argparse.Namespace) -> Setup:
    """Threads, device (joins the torchrun group), precision, workers and seeds from the
    common options (:func:`add_common_args`)."""
    set_threads(args.threads)
    device = pick_device(args.device)
    workers = getattr(args, "loader_workers", None)
    if workers is None:
        workers = 4 if device.type == "cuda" else 0
    seed = int(getattr(args, "seed", 0) or 0)
    seed_everything(seed + distributed.seed_offset())
    if device.type == "cuda":  # fixed crop sizes: let cuDNN time its algorithms once
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")  # TF32 for what stays in float32
    env = Setup(device, amp_dtype(getattr(args, "amp", "auto"), device), workers, seed)
    global _CURRENT
    _CURRENT = env
    if distributed.is_main() and (env.cuda or env.amp_dtype is not None):
        print(f"device {env.describe()['device']}, {env.describe()['precision']}, "
              f"{workers} data workers", flush=True)
    return env


_CURRENT: Setup | None = None  # this process's training setup, named in its manifests


class _Stream(torch.utils.data.IterableDataset):
    """An endless batch generator as a DataLoader dataset: worker ``i`` runs
    ``make(i)`` (its own seed), so the workers never repeat each other's batches."""

    def __init__(self, make: Callable[[int], Iterator[Any]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        return self.make(0 if info is None else info.id)


def batches(make: Callable[[int], Iterator[Any]], env: Setup) -> Iterator[Any]:
    """Endless batches for the training step, on ``env.device``.

    ``make(i)`` returns the ``i``-th independent stream (``i`` shifts its seed). Without
    workers (the CPU default) the stream ``make(0)`` runs in this process, as before; with
    ``env.workers`` > 0 a DataLoader runs one stream per worker process, pinning memory on
    CUDA so the copies to the device do not block."""
    if env.workers <= 0:
        stream = make(0)
    else:
        import multiprocessing as mp

        # fork: the streams are closures over the loaded images (not picklable), and the
        # workers never touch CUDA
        ctx = "fork" if "fork" in mp.get_all_start_methods() else None
        stream = iter(torch.utils.data.DataLoader(
            _Stream(make), batch_size=None, num_workers=env.workers, pin_memory=env.cuda,
            persistent_workers=True, prefetch_factor=4, multiprocessing_context=ctx))
    for item in stream:
        yield _to_device(item, env.device)


def _to_device(item: Any, device: torch.device) -> Any:
    if isinstance(item, torch.Tensor):
        return item.to(device, non_blocking=True)
    if isinstance(item, list | tuple):
        return type(item)(_to_device(v, device) for v in item)
    return item


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer,
                  params: Any, clip: float | None = 1.0) -> None:
    """Zero the gradients, back-propagate ``loss``, clip the gradient norm, step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def ship(manifest: str | Path, models: str | Path = "models") -> Path:
    """Copy exported weights into ``models/`` (the explicit shipping step): the manifest's
    sha256 is checked against the ``.safetensors`` beside it first, and nothing is copied
    when they disagree. Returns the shipped weights' path."""
    import json

    from app.nets.zoo import sha256_file

    man_path = Path(manifest)
    man = json.loads(man_path.read_text())
    weights = man_path.parent / man["file"]
    got = sha256_file(weights)
    if got != man["sha256"]:
        raise SystemExit(f"{weights}: sha256 {got} but its manifest says {man['sha256']}; "
                         "not shipped")
    dest = Path(models)
    dest.mkdir(parents=True, exist_ok=True)
    for src in (weights, man_path):
        tmp = dest / (src.name + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest / src.name)
    print(f"shipped {weights.name} (sha256 {got[:16]}..., {man.get('steps')} steps) "
          f"and {man_path.name} to {dest}", flush=True)
    return dest / weights.name


def to_cpu(obj: Any) -> Any:
    """``obj`` with every tensor (in dicts, lists, tuples) detached and moved to the CPU:
    what a checkpoint holds, so it loads on any device."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` of ``obj`` moved to the CPU (:func:`to_cpu`) to a temp file then
    rename, so a kill never leaves half a checkpoint and the file loads on any device."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(to_cpu(obj), tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True``: no pickled code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def init_from_safetensors(model: torch.nn.Module, path: str | Path,
                          state: dict[str, torch.Tensor] | None = None) -> int:
    """Load the tensors of shipped fp16 weights that fit ``model`` (same name and shape)
    as float32, for ``--init``; returns how many were loaded. ``state``: those weights
    already loaded (and adapted) from ``path``."""
    from safetensors.torch import load_file

    own = model.state_dict()
    init = {k: v.float() for k, v in (state if state is not None
                                      else load_file(str(path))).items()
            if k in own and own[k].shape == v.shape}
    model.load_state_dict(init, strict=False)
    print(f"initialised {len(init)} of {len(own)} tensors from {path}", flush=True)
    return len(init)


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


class Schedule(NamedTuple):
    """A configuration's default schedule (a trainer's ``DEFAULTS`` table): total steps,
    batch size, crop side in pixels (0: the trainer crops nothing) and learning rate (0:
    the trainer's ``--lr`` default applies)."""

    iters: int
    batch: int
    crop: int = 0
    lr: float = 0.0


def schedule(args: argparse.Namespace,
             defaults: Mapping[str, Schedule] | Schedule) -> Schedule:
    """The run's schedule: ``--iters``, ``--batch``, ``--crop`` and ``--lr`` where given,
    else ``defaults`` (one :class:`Schedule`, or one per ``--config``)."""
    d = defaults if isinstance(defaults, Schedule) else defaults[args.config]
    return Schedule(int(args.iters or d.iters), int(args.batch or d.batch),
                    int(args.crop or d.crop), float(args.lr or d.lr))


def export_safetensors(
    state: dict[str, torch.Tensor],
    out_dir: Path,
    stem: str,
    manifest: dict[str, Any],
) -> Path:
    """Write ``<stem>.safetensors`` (floating tensors as fp16) and ``<stem>.json``.

    ``manifest`` (the trainer's: config, training data, steps, validation numbers) gets
    ``file``, ``sha256``, ``dtype``, ``date``, ``torch``, ``python`` and, after
    :func:`setup`, ``trained_with`` (device, precision, workers, seed, processes) added.
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
    if _CURRENT is not None:
        man.setdefault("trained_with", _CURRENT.describe())
    jt = out_dir / f"{stem}.json.tmp"
    jt.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")
    os.replace(jt, out_dir / f"{stem}.json")
    return st


def install_sigterm() -> threading.Event:
    """Turn SIGTERM/SIGINT into a flag so the loop can write a last checkpoint and exit."""
    ev = threading.Event()

    def handler(signum: int, frame: Any) -> None:
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


LAST_STATS: dict[str, float] = {}
"""The steps, seconds and steps per second of this process's last :meth:`TrainLoop.run`
(the training steps alone, before the final validation; ``steady_steps_per_s`` leaves out
the first :data:`WARM_STEPS`), for ``benchmarks/gpu_check.py``."""
WARM_STEPS = 5


class TrainLoop:
    """The loop every trainer shares: the progress schedule, tqdm with running averages,
    validation every ``--val-every`` steps, checkpoints every ``--ckpt-minutes`` and on
    SIGTERM/Ctrl-C, ``--resume``, and the export of every new best validation result.

    ``parts`` are the modules and optimisers a checkpoint holds, under the keys given; the
    first one is the network that is exported. A trainer supplies one training step (it
    gets the schedule position p and sets its own learning rates), a validation returning
    ``(score, metrics)`` (higher score is better) and the export of a state dict.

    Under torchrun (:mod:`app.train.distributed`) the parts hold the unwrapped modules (so
    checkpoints do not depend on the number of processes) and the training step runs the
    modules returned by :meth:`wrap`; rank 0 alone reads and writes checkpoints (the
    checkpoint read is broadcast), validates, exports and shows the progress bar. The
    schedule position and the stop decision (schedule end, signal, ``--minutes``) are
    agreed by all ranks every step. With ``EDMS_TRAIN_DIGEST=1`` every rank prints the
    sha256 of its final weights (:func:`app.train.distributed.digest`).
    """

    def __init__(self, args: argparse.Namespace, name: str, iters: int,
                 parts: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.args, self.name, self.iters = args, name, iters
        self.run_dir = Path(args.run_dir or f"runs/{name}-{args.config}")
        # exports stay beside the checkpoints unless --out says otherwise; models/ only
        # through `edms train ship`
        self.out_dir = Path(args.out) if args.out else self.run_dir
        self.last = self.run_dir / "last.pt"
        self.parts = parts
        self.extra = dict(extra or {})  # saved in every checkpoint (e.g. the loss)
        self.step, self.p0, self.p = 0, 0.0, 0.0
        self.best: float = float("-inf")
        self.best_metrics: dict[str, Any] | None = None
        self.stopped_by_signal = False
        self.stats: dict[str, float] = {}
        self.is_main = distributed.is_main()
        # added to a trainer's seeds: each rank draws its own crops (0 without torchrun)
        self.seed_offset = distributed.seed_offset()

    def wrap(self, module: torch.nn.Module, **ddp_kwargs: Any) -> torch.nn.Module:
        """The module the training step's forward passes go through: DDP under torchrun,
        ``module`` itself otherwise. Call it after :meth:`resume`."""
        return distributed.wrap(module, **ddp_kwargs)

    def resume(self, check: Callable[[dict[str, Any]], None] | None = None
               ) -> dict[str, Any] | None:
        """With ``--resume``, load ``last.pt`` into the parts; returns the checkpoint.
        ``check`` sees the checkpoint first (and may refuse it with SystemExit)."""
        if not self.args.resume:
            return None
        ck = load_checkpoint(self.last) if self.is_main and self.last.exists() else None
        ck = distributed.broadcast_object(ck)
        if ck is None:
            if self.is_main:
                print(f"--resume: no checkpoint at {self.last}, starting fresh", flush=True)
            return None
        if check is not None:
            check(ck)
        for key, part in self.parts.items():
            if ck.get(key):
                part.load_state_dict(ck[key])
        self.step = int(ck["step"])
        # older checkpoints named these after the trainer's metric or schedule
        best = next((ck[k] for k in ("best", "best_psnr", "best_miou") if k in ck), None)
        self.best = float("-inf") if best is None else float(best)
        self.best_metrics = ck.get("best_metrics")
        self.p0 = self.p = float(ck.get("progress", ck.get("p", self.step / max(1, self.iters))))
        if self.is_main:
            print(f"resumed from {self.last} at step {self.step} (best {self.best:.4f})",
                  flush=True)
        return ck

    def save(self, path: Path | None = None) -> None:
        """Write the checkpoint (rank 0 only; the other ranks hold the same state)."""
        if not self.is_main:
            return
        atomic_save({**{k: v.state_dict() for k, v in self.parts.items()}, "step": self.step,
                     "progress": self.p, "best": self.best, "best_metrics": self.best_metrics,
                     **self.extra}, path or self.last)

    def _first_state(self) -> tuple[str, dict[str, torch.Tensor]]:
        key, net = next(iter(self.parts.items()))
        return key, {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}

    def run(self, train_step: Callable[[float], dict[str, float]],
            validate: Callable[[], tuple[float, dict[str, Any]]] | None,
            export: Callable[[dict[str, torch.Tensor], dict[str, Any]], None]) -> None:
        """Train until the schedule ends or a signal arrives. Without ``validate`` (no
        validation split) the last weights are exported at the end."""
        import time

        from tqdm import tqdm

        stop = install_sigterm()
        sched = Progress(self.iters, self.args.minutes, self.p0)
        avg: dict[str, float] = {}
        last_val = -1
        last_ckpt = time.monotonic()
        pbar = tqdm(total=None, initial=self.step, desc=f"{self.name}-{self.args.config}",
                    mininterval=30, ncols=110, disable=not self.is_main)

        def do_validate() -> None:
            nonlocal last_val
            last_val = self.step
            assert validate is not None
            if self.is_main:
                validate_and_export()
            distributed.barrier()  # the other ranks wait for rank 0's validation

        def validate_and_export() -> None:
            assert validate is not None
            score, metrics = validate()
            if score > self.best:
                self.best, self.best_metrics = score, metrics
                key, state = self._first_state()
                atomic_save({key: state, "step": self.step, "metrics": metrics, **self.extra},
                            self.run_dir / "best.pt")
                export(state, metrics)
                print(f"new best {score:.4f} at step {self.step} -> exported to "
                      f"{self.out_dir}", flush=True)

        signalled = False
        first, t_start = self.step, time.monotonic()
        t_warm = t_start  # after the first WARM_STEPS steps (kernel choice, loader start)
        while True:
            # one all-reduce: every rank takes the same LR and stops at the same step
            self.p, flag = distributed.agree_max([sched(self.step), float(stop.is_set())])
            signalled = flag > 0
            if self.p >= 1.0 or signalled:
                break
            logs = train_step(self.p)
            self.step += 1
            if self.step - first == WARM_STEPS:
                t_warm = time.monotonic()
            for k, v in logs.items():
                avg[k] = v if k not in avg else 0.98 * avg[k] + 0.02 * v
            pbar.update(1)
            pbar.set_postfix({k: f"{v:.3f}" for k, v in avg.items()}
                             | {"p": f"{self.p:.2f}", "best": f"{self.best:.3f}"},
                             refresh=False)
            if validate is not None and self.step % self.args.val_every == 0:
                do_validate()
            if time.monotonic() - last_ckpt > self.args.ckpt_minutes * 60:
                self.save()
                last_ckpt = time.monotonic()
        pbar.close()
        self._record_stats(self.step - first, t_start, t_warm)
        self.stopped_by_signal = signalled
        self.save()
        if validate is not None and last_val != self.step and not self.stopped_by_signal:
            do_validate()
        if validate is None and self.is_main:
            export(self._first_state()[1], {})
        self._finish_ranks()
        why = "signal" if self.stopped_by_signal else "schedule done"
        if self.is_main:
            print(f"stopped ({why}) at step {self.step}; best validation score "
                  f"{self.best:.4f}; checkpoint {self.last}; {self.stats['steps']} steps "
                  f"in {self.stats['seconds']:.1f} s ({self.stats['steps_per_s']:.2f} "
                  "steps/s)", flush=True)

    def _record_stats(self, n: int, t_start: float, t_warm: float) -> None:
        """:attr:`stats` and :data:`LAST_STATS` of a run of ``n`` steps."""
        import time

        t_end = time.monotonic()
        seconds = t_end - t_start
        self.stats = {"steps": n, "seconds": seconds, "steps_per_s": n / max(seconds, 1e-9)}
        if n > 2 * WARM_STEPS:
            self.stats["steady_steps_per_s"] = (n - WARM_STEPS) / max(t_end - t_warm, 1e-9)
        LAST_STATS.clear()
        LAST_STATS.update(self.stats)

    def _finish_ranks(self) -> None:
        """Give every rank rank 0's buffers (the saved state) and, with
        ``EDMS_TRAIN_DIGEST=1``, print each rank's sha256 of the parameters of all the
        modules (before that copy: DDP keeps them equal by itself) and of the exported
        network's whole state dict (after it: equal to the checkpoint's)."""
        report = os.environ.get("EDMS_TRAIN_DIGEST") == "1"
        if not (report or distributed.active()):
            return
        net = next(iter(self.parts.values()))
        params = distributed.digest({f"{key}.{n}": t for key, part in self.parts.items()
                                     if isinstance(part, torch.nn.Module)
                                     for n, t in part.named_parameters()})
        for part in self.parts.values():
            if isinstance(part, torch.nn.Module):
                distributed.sync_buffers(part)
        if report:
            # one write per line, so the lines of different ranks sharing a pipe do not mix
            print(f"digest rank {distributed.rank()}/{distributed.world_size()} step "
                  f"{self.step} params {params} state {distributed.digest(net.state_dict())}\n",
                  end="", flush=True)


def start(args: argparse.Namespace, name: str, iters: int, model: torch.nn.Module,
          opt: torch.optim.Optimizer, seed: int
          ) -> tuple[TrainLoop, torch.nn.Module, random.Random]:
    """The start of a one-network trainer: its :class:`TrainLoop` (checkpoint parts
    ``model`` and ``opt``), resumed with ``--resume``; the module the training step runs
    (:meth:`TrainLoop.wrap`); and the step's random draws, seeded (torch's too) with
    ``seed`` plus the step resumed at and the rank's offset."""
    loop = TrainLoop(args, name, iters, {"model": model, "opt": opt})
    loop.resume()
    net = loop.wrap(model)
    seed += loop.step + loop.seed_offset
    rng = random.Random(seed)
    torch.manual_seed(seed)
    return loop, net, rng
