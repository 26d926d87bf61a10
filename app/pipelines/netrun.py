"""Running the shipped networks identically in encoder and decoder.

The decoder of a layered codec must rebuild the encoder's prediction x' bit for bit
(DSSLIC Algorithm 1: the residual is coded against x'). Floating-point convolutions may
sum in a different order with a different thread count, so every network call here runs
with a fixed number of intra-op threads (:data:`INFERENCE_THREADS`), whatever the caller
set, and outputs are rounded to 8 bit before they leave this module.

Large images are processed in tiles of ``TILE`` pixels with a ``HALO``-pixel margin that
is computed and thrown away; the tiling depends only on the image size, so encoder and
decoder tile alike and peak memory stays bounded (a 24-megapixel image decodes within a
few hundred MB of activations with the lite networks). The tiles of one pass run on up to
:data:`TILE_WORKERS` threads at once, each with :data:`INFERENCE_THREADS` intra-op
threads: every tile is computed exactly as it would be alone, so the output does not
depend on how many tiles run in parallel, and a 2-core machine uses both cores. Between
tiles the caller's progress callback and cancellation request are honoured
(:mod:`app.cancel`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import torch

from app.cancel import POLL_S, check_cancelled, checkpoint, interruptible

INFERENCE_THREADS = 1
UNIT = 8  # the compact image's down-sampling factor (DSSLIC alpha)
TILE = 1024  # pixels; a multiple of UNIT
HALO = 32  # pixels; a multiple of UNIT
# Tiles computed at once (threads); each tile's result is the same whatever this is.
TILE_WORKERS = max(1, min(4, os.cpu_count() or 1))

_LOCK = threading.Lock()


def cuda_device_name() -> str:
    """The first CUDA device's name, or "" when torch sees none (the GUI's device list)."""
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""


def module_on(module: torch.nn.Module, device: torch.device,
              copies: dict[tuple[int, str], torch.nn.Module]) -> Any:
    """``module`` itself for the CPU, else a copy of it on ``device`` (made once and kept
    in ``copies``). The CPU modules never move, so whatever the encoder's analysis runs
    on, the networks whose outputs the decoder must rebuild bit for bit stay on the CPU
    in float32 (see ``docs/pipelines.md``, "Devices")."""
    if device.type == "cpu":
        return module
    key = (id(module), str(device))
    if key not in copies:
        copies[key] = copy.deepcopy(module).to(device).eval()
    return copies[key]


def channels_last(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` with its 4-D weights in channels-last order (NHWC), which the CPU's
    oneDNN convolutions run about 1.7x faster for the full-resolution networks (PostNet,
    Rec-Net: measured at 512x512, one thread). The floats differ from NCHW's in the last
    bit, so encoder and decoder must both use it (they do: the pipelines call this when
    they load the network); the pipelines that changed got new versions."""
    if os.environ.get("EDMS_NCHW") == "1":  # the old layout, for speed comparisons only
        return module
    return module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def in_helper_thread(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``fn`` with the calling thread's torch settings (intra-op threads, inference and
    grad mode) applied in whichever thread runs it: for
    :func:`app.cancel.interruptible`, whose helper thread starts with torch's
    defaults (a different thread count could change the floats, and the decoder must
    compute what the encoder did)."""
    threads = torch.get_num_threads()
    inference = torch.is_inference_mode_enabled()
    grad = torch.is_grad_enabled()

    def call(*args: Any) -> torch.Tensor:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return fn(*args)

    return call


@contextlib.contextmanager
def fixed_threads(n: int = INFERENCE_THREADS) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, then restore the caller's setting."""
    with _LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            with torch.inference_mode():
                yield
        finally:
            torch.set_num_threads(before)


def one_tile(height: int, width: int, tile: int | None = None) -> bool:
    """Whether :func:`tiled` processes an image of ``height`` x ``width`` whole."""
    tu = (TILE if tile is None else tile) // UNIT
    return -(-height // UNIT) <= tu and -(-width // UNIT) <= tu


def tiled(
    fn: Callable[..., torch.Tensor],
    inputs: Sequence[tuple[torch.Tensor, int]],
    out_scale: int,
    height: int,
    width: int,
    tile: int | None = None,
    halo: int | None = None,
) -> torch.Tensor:
    """Apply ``fn`` tile by tile over an image of ``height`` x ``width`` pixels.

    ``inputs`` are ``(tensor, pixels_per_unit)`` pairs: 8 for full-resolution tensors, 1
    for compact-image tensors (one sample per 8x8 block). ``fn`` maps input tiles to an
    output with ``out_scale`` samples per unit. Small images are processed whole.
    ``tile`` and ``halo`` default to :data:`TILE` and :data:`HALO` (read at call time). Raises
    :class:`app.errors.Cancelled` between tiles when the caller asks
    (:func:`app.cancel.watching`).
    """
    tile = TILE if tile is None else tile
    halo = HALO if halo is None else halo
    hu, wu = -(-height // UNIT), -(-width // UNIT)
    tu, hau = tile // UNIT, halo // UNIT
    if one_tile(height, width, tile):
        check_cancelled()
        o = interruptible(in_helper_thread(fn), *(t for t, _ in inputs))
        checkpoint(1, 1)
        return o
    out: torch.Tensor | None = None
    out_h = height if out_scale == UNIT else hu * out_scale
    out_w = width if out_scale == UNIT else wu * out_scale
    s = out_scale
    tiles = [(y0, x0) for y0 in range(0, hu, tu) for x0 in range(0, wu, tu)]

    def run(y0: int, x0: int) -> torch.Tensor:
        y1, x1 = min(y0 + tu, hu), min(x0 + tu, wu)
        ey0, ex0 = max(0, y0 - hau), max(0, x0 - hau)
        ey1, ex1 = min(hu, y1 + hau), min(wu, x1 + hau)
        parts = [t[..., ey0 * s_:ey1 * s_, ex0 * s_:ex1 * s_] for t, s_ in inputs]
        o = fn(*parts)
        # The last tile row/column may end inside the last 8x8 unit (an image side
        # that is not a multiple of UNIT): clip to the output and take as many rows
        # and columns of the tile's output, whatever padding ``fn`` added.
        oy1, ox1 = min(y1 * s, out_h), min(x1 * s, out_w)
        ty0, tx0 = (y0 - ey0) * s, (x0 - ex0) * s
        return o[..., ty0:ty0 + oy1 - y0 * s, tx0:tx0 + ox1 - x0 * s]

    def place(y0: int, x0: int, o: torch.Tensor) -> None:
        nonlocal out
        if out is None:
            out = torch.empty(*o.shape[:-2], out_h, out_w, dtype=o.dtype)
        out[..., y0 * s:y0 * s + o.shape[-2], x0 * s:x0 * s + o.shape[-1]] = o

    workers = min(TILE_WORKERS, len(tiles))
    if workers <= 1 or torch.get_num_threads() != INFERENCE_THREADS:
        # serial: one worker, or a caller outside fixed_threads (whose thread setting
        # the worker threads must not change)
        for i, (y0, x0) in enumerate(tiles):
            check_cancelled()
            place(y0, x0, interruptible(in_helper_thread(run), y0, x0))
            checkpoint(i + 1, len(tiles))
    else:
        _tiled_parallel(run, place, tiles, workers)
    assert out is not None
    return out


def _tiled_parallel(run: Callable[[int, int], torch.Tensor],
                    place: Callable[[int, int, torch.Tensor], None],
                    tiles: list[tuple[int, int]], workers: int) -> None:
    """Run ``run(y0, x0)`` for every tile on ``workers`` threads with one intra-op thread
    each (the caller holds :func:`fixed_threads`), at most ``workers`` tiles in flight
    (bounded memory); results are placed, progress reported and cancellation checked in
    the caller's thread (whose context holds the callbacks)."""

    def task(y0: int, x0: int) -> torch.Tensor:
        return _in_pool_thread(run, y0, x0)

    check_cancelled()
    pending: dict[Future[torch.Tensor], tuple[int, int]] = {}
    todo = iter(tiles)
    done = 0

    def settle(limit: int) -> None:
        """Place finished tiles until fewer than ``limit`` are in flight, looking at the
        caller's stop request every :data:`app.cancel.POLL_S` seconds."""
        nonlocal done
        while len(pending) >= max(limit, 1):
            finished, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
            if not finished:
                check_cancelled()
            for f in finished:
                place(*pending.pop(f), f.result())
                done += 1
                checkpoint(done, len(tiles))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="edms-tile")
    stopped = False
    try:
        for y0, x0 in todo:
            pending[pool.submit(task, y0, x0)] = (y0, x0)
            settle(workers)
        settle(1)
    except BaseException:
        stopped = True
        raise
    finally:
        # stopped: the running tiles are abandoned (they end in the background)
        pool.shutdown(wait=not stopped, cancel_futures=True)


def map_threads(fn: Callable[[Any], torch.Tensor], items: Sequence[Any], workers: int
                ) -> list[torch.Tensor]:
    """``[fn(item) for item in items]`` on up to ``workers`` threads, each with
    :data:`INFERENCE_THREADS` intra-op threads and inference mode, as the tiles of
    :func:`tiled` run: every result is computed exactly as it would be serially (the
    post-filter's views of one tile use it)."""

    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="edms-view") as pool:
        return list(pool.map(lambda item: _in_pool_thread(fn, item), items))


def _in_pool_thread(fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """``fn(*args)`` in a pool thread with :data:`INFERENCE_THREADS` intra-op threads and
    inference mode (thread-local settings: a fresh thread has grad mode on and may not
    have picked up the intra-op thread count yet)."""
    if torch.get_num_threads() != INFERENCE_THREADS:
        torch.set_num_threads(INFERENCE_THREADS)
    with torch.inference_mode():
        return fn(*args)


def uint8_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) uint8 (a quarter of the float copy's memory)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [0, 255]."""
    return uint8_tensor(image).float()


def to_uint8_image(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [-1, 1] -> HxWx3 uint8 (round half to even, clamped)."""
    v = torch.round(t[0].clamp(-1, 1) * 127.5 + 127.5).to(torch.uint8)
    return np.ascontiguousarray(v.permute(1, 2, 0).numpy())
