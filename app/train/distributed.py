"""Data-parallel training under ``torchrun``: process group, DDP wrapping, sharding, agreement.

``torchrun --nproc_per_node N -m app.train NET ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment. :func:`setup` (called by
:func:`app.train.common.pick_device`) then joins the process group: gloo on CPU, NCCL on
CUDA (one GPU per process, ``cuda:LOCAL_RANK``). Without ``WORLD_SIZE``, or with
``WORLD_SIZE=1``, nothing is set up and every helper here is the identity or a no-op, so a
plain ``python -m app.train ...`` behaves as before.

What each rank does (see :class:`app.train.common.TrainLoop`): every rank trains on its
shard of the frames (:func:`shard`) with its own random crops (:func:`seed_offset`);
:func:`wrap` gives the :class:`~torch.nn.parallel.DistributedDataParallel` module the
forward pass goes through (gradients are averaged over the ranks); rank 0 alone shows the
progress bar, validates and writes checkpoints and exports, while the others wait at a
barrier; the schedule position and the stop decision are agreed with one small all-reduce
per step (:func:`agree_max`), so no rank leaves the loop alone.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import hashlib
import io
import os
import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

# Rank 0 validates (and may prepare cached data) while the other ranks wait at a barrier:
# the collective timeout must outlast that. Override with EDMS_DIST_TIMEOUT_MINUTES.
DEFAULT_TIMEOUT_MINUTES = 180.0


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when absent or malformed)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def active() -> bool:
    """True in a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or a single process): the one that logs, validates and writes files."""
    return rank() == 0


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def setup(device: torch.device) -> None:
    """Join the torchrun process group if ``WORLD_SIZE`` > 1 (once per process).

    The backend follows the device: NCCL for CUDA, gloo for CPU. The group is destroyed
    when the process exits.
    """
    if env_world_size() <= 1 or dist.is_initialized():
        return
    if not dist.is_available():
        raise SystemExit("torch.distributed is not available in this torch build")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    raw = os.environ.get("EDMS_DIST_TIMEOUT_MINUTES", str(DEFAULT_TIMEOUT_MINUTES))
    try:
        minutes = float(raw)
    except ValueError:
        raise SystemExit(f"EDMS_DIST_TIMEOUT_MINUTES={raw!r} is not a number") from None
    try:
        dist.init_process_group(backend, timeout=_dt.timedelta(minutes=minutes))
    except (ValueError, RuntimeError) as e:  # e.g. WORLD_SIZE set by hand, not by torchrun
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SystemExit(f"cannot join the process group (start with torchrun): {first}"
                         ) from None
    atexit.register(_teardown)
    # torchrun sets PYTHONUNBUFFERED, so print() writes a line's text and its newline
    # separately and the ranks, sharing one pipe, splice lines into each other (measured:
    # a quarter of 40 000 lines from two ranks); line buffering makes every line one write
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True, write_through=False)
    if is_main():
        print(f"distributed: {world_size()} processes, backend {backend}", flush=True)


def _teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device_for(name: str) -> torch.device:
    """The device of this process for ``--device cuda`` under torchrun: ``cuda:LOCAL_RANK``."""
    if name == "cuda" and env_world_size() > 1:
        if local_rank() >= torch.cuda.device_count():
            raise SystemExit(f"process {local_rank()} of this machine needs GPU "
                             f"{local_rank()}, and there are {torch.cuda.device_count()}: "
                             "give torchrun at most one process per GPU (--nproc_per_node)")
        return torch.device("cuda", local_rank())
    return torch.device(name)


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: ``items[rank::world]`` (all of them when alone)."""
    if not active():
        return list(items)
    if len(items) < world_size():  # the same test on every rank: all of them exit
        raise SystemExit(f"{len(items)} training items for {world_size()} processes: "
                         "use fewer processes or more data")
    part = list(items[rank()::world_size()])
    print(f"rank {rank()}/{world_size()}: {len(part)} of {len(items)} training items",
          flush=True)
    return part


def seed_offset() -> int:
    """Added to a trainer's seeds so that every rank draws its own crops (0 on rank 0)."""
    return 100_003 * rank()


def wrap(module: torch.nn.Module, **ddp_kwargs: Any) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` in a process group, else ``module`` itself.

    Construction broadcasts rank 0's parameters and buffers, so every rank starts from the
    same weights (rank 0's, which are the checkpoint's on ``--resume``).
    """
    if not active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    dev = next(module.parameters()).device
    ids = [dev] if dev.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, **ddp_kwargs)


class Methods(torch.nn.Module):
    """Calls any method of a module through ``forward``: ``Methods(net)("reconstruct", c, s)``.

    DDP hooks only ``forward``; a trainer whose step calls other methods of its network
    wraps ``Methods(net)`` so those calls go through DDP too.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.module, method)(*args, **kwargs)


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree_max(values: Sequence[float]) -> list[float]:
    """The element-wise maximum of ``values`` over all ranks (one all-reduce)."""
    if not active():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.cpu().tolist()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_object(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (``obj`` is ignored elsewhere)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]  # type: ignore[return-value]


def sync_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank.

    DDP broadcasts them before each forward, so after the last step each rank holds its
    own update; this makes every rank end with the state rank 0 saved.
    """
    if not active():
        return
    dev = _collective_device()
    for b in module.buffers():
        t = b.detach().to(dev)
        dist.broadcast(t, src=0)
        b.data.copy_(t.to(b.device))


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of ``tensors`` in name order."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        v = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
