"""Per-tile progress and cancellation (app.cancel), without Qt; parallel tiles
compute exactly what serial tiles do."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from app import api
from app.cancel import check_cancelled, checkpoint, watching
from app.errors import Cancelled
from app.pipelines import netrun
from app.pipelines.netrun import UNIT, fixed_threads, tiled
from tests.images import synthetic_image


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(16, 3, 3, padding=1)).eval()


def _input(h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(synthetic_image(h, w).transpose(2, 0, 1).copy())[None].float()


def test_tiles_report_progress_in_order():
    x = _input(100, 130)
    seen: list[tuple[int, int]] = []
    with watching(progress=lambda d, t: seen.append((d, t))):
        tiled(lambda t: t * 2, [(x, UNIT)], UNIT, 100, 130, tile=32, halo=8)
    total = 4 * 5  # ceil(100/32) x ceil(130/32)
    assert seen == [(i, total) for i in range(1, total + 1)]


def test_cancel_between_tiles_stops_the_pass():
    x = _input(100, 130)
    calls = 0

    def fn(t: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return t

    done: list[int] = []
    watch = watching(progress=lambda d, t: done.append(d), cancelled=lambda: len(done) >= 3)
    with watch, pytest.raises(Cancelled):
        tiled(fn, [(x, UNIT)], UNIT, 100, 130, tile=32, halo=8)
    assert calls == 3  # stopped right after the third tile, not at the end of the pass


def test_no_watch_means_no_callbacks_and_the_context_ends():
    checkpoint(1, 2)
    check_cancelled()
    with watching(cancelled=lambda: True), pytest.raises(Cancelled):
        check_cancelled()
    check_cancelled()  # outside the block again: nothing asked to stop


def test_watch_is_per_thread_context():
    """Another thread (a second job) does not see this thread's cancel request."""
    errors: list[BaseException] = []

    def other() -> None:
        try:
            check_cancelled()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    with watching(cancelled=lambda: True):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert errors == []


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_tiles_equal_serial_tiles(monkeypatch, workers):
    net = _net()
    x = _input(200, 270)
    monkeypatch.setattr(netrun, "TILE_WORKERS", 1)
    with fixed_threads():
        serial = tiled(net, [(x, UNIT)], UNIT, 200, 270, tile=64, halo=16)
    monkeypatch.setattr(netrun, "TILE_WORKERS", workers)
    seen: list[int] = []
    with fixed_threads(), watching(progress=lambda d, t: seen.append(d)):
        parallel = tiled(net, [(x, UNIT)], UNIT, 200, 270, tile=64, halo=16)
    assert torch.equal(serial, parallel)
    assert seen == list(range(1, 4 * 5 + 1))


def test_parallel_cancel_raises_and_keeps_threads_setting(monkeypatch):
    monkeypatch.setattr(netrun, "TILE_WORKERS", 2)
    before = torch.get_num_threads()
    x = _input(200, 270)
    watch = watching(progress=lambda d, t: None, cancelled=lambda: True)
    with watch, pytest.raises(Cancelled), fixed_threads():
        tiled(_net(), [(x, UNIT)], UNIT, 200, 270, tile=64, halo=16)
    assert torch.get_num_threads() == before


def test_pipeline_encode_is_cancelled_between_tiles(monkeypatch):
    """A learned pipeline's encode stops at a tile boundary and reports tiles done."""
    from app.pipelines import registry

    if registry.status("edms-noenh") is not None:
        pytest.skip(f"edms-noenh cannot run here: {registry.status('edms-noenh')}")
    monkeypatch.setattr(netrun, "TILE", 64)
    seen: list[tuple[int, int]] = []
    with watching(progress=lambda d, t: seen.append((d, t)),
                  cancelled=lambda: len(seen) >= 2), pytest.raises(Cancelled):
        api.encode(synthetic_image(150, 200), "edms-noenh", {"qp": 32})
    assert seen == [(1, 12), (2, 12)]  # 3 x 4 tiles of 64 pixels
    enc, data = api.encode(synthetic_image(150, 200), "edms-noenh", {"qp": 32})  # still works
    assert np.array_equal(api.decode(data).image, enc.reconstruction)


# --- a running call is stoppable (app.cancel.interruptible) --------------------------

def _slow(seconds: float, value: int = 7) -> int:
    import time

    time.sleep(seconds)
    return value


def test_interruptible_returns_the_result_and_raises_the_error():
    from app.cancel import interruptible

    assert interruptible(_slow, 0.0) == 7  # nobody watches: the caller's thread
    with watching(cancelled=lambda: False):
        assert interruptible(_slow, 0.1, 3) == 3

        def boom() -> None:
            raise ValueError("inside")

        with pytest.raises(ValueError, match="inside"):
            interruptible(boom)


def test_cancel_stops_a_long_call_within_a_fraction_of_a_second():
    """A call that cannot be interrupted from Python (one tile, x265, libjxl) no longer
    holds up Cancel: the caller stops polling and returns; the call is abandoned."""
    import time

    from app.cancel import interruptible

    asked = threading.Event()
    threading.Timer(0.2, asked.set).start()
    t0 = time.perf_counter()
    with watching(cancelled=asked.is_set), pytest.raises(Cancelled):
        interruptible(_slow, 5.0)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_during_a_slow_tile(monkeypatch, workers):
    import time

    monkeypatch.setattr(netrun, "TILE_WORKERS", workers)
    x = _input(100, 130)

    def slow(t: torch.Tensor) -> torch.Tensor:
        time.sleep(3.0)
        return t

    asked = threading.Event()
    threading.Timer(0.3, asked.set).start()
    t0 = time.perf_counter()
    with fixed_threads(), watching(cancelled=asked.is_set), pytest.raises(Cancelled):
        tiled(slow, [(x, UNIT)], UNIT, 100, 130, tile=64, halo=8)
    assert time.perf_counter() - t0 < 1.5
    # whole-image pass too (the image fits one tile)
    asked.clear()
    threading.Timer(0.3, asked.set).start()
    t0 = time.perf_counter()
    with fixed_threads(), watching(cancelled=asked.is_set), pytest.raises(Cancelled):
        tiled(slow, [(x, UNIT)], UNIT, 100, 130)
    assert time.perf_counter() - t0 < 1.5


def test_cancel_during_a_lossless_candidate(monkeypatch):
    import time

    from app.codecs import encode_smallest_lossless, png

    class Slow(type(png())):  # type: ignore[misc]
        def encode(self, array: np.ndarray) -> bytes:
            time.sleep(3.0)
            return super().encode(array)

    asked = threading.Event()
    threading.Timer(0.2, asked.set).start()
    t0 = time.perf_counter()
    with watching(cancelled=asked.is_set), pytest.raises(Cancelled):
        encode_smallest_lossless(np.zeros((8, 8), np.uint8), [Slow()])
    assert time.perf_counter() - t0 < 1.0
    # watched but not stopped: the same bytes as unwatched
    with watching(cancelled=lambda: False):
        assert encode_smallest_lossless(np.zeros((8, 8), np.uint8), [png()]) == \
            encode_smallest_lossless(np.zeros((8, 8), np.uint8), [png()])
