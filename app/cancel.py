"""Progress and cancellation of long network passes, set by the caller per context.

A caller (the GUI worker, a script) wraps an encode or decode in :func:`watching`; the
pipelines' long loops (:func:`app.pipelines.netrun.tiled` after every tile, the
post-filter's block search, the semantic-map QP scan) call :func:`checkpoint`, which
raises :class:`app.errors.Cancelled` as soon as the caller's ``cancelled()`` says so and
otherwise reports ``(done, total)`` units of the current pass. The callbacks live in a
:mod:`contextvars` variable, so pipeline signatures stay as they are and two threads
that encode at once do not see each other's callbacks. No torch here: a GUI process can
import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from app.errors import Cancelled

T = TypeVar("T")

#: seconds between two looks at the caller's stop request while a call runs
POLL_S = 0.05


@dataclass(frozen=True)
class Watch:
    progress: Callable[[int, int], None] | None = None  # (units done, units in this pass)
    cancelled: Callable[[], bool] | None = None  # True: stop at the next checkpoint


_WATCH: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("edms_watch",
                                                                      default=None)


@contextlib.contextmanager
def watching(progress: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Iterator[None]:
    """Within this block, long loops report ``progress(done, total)`` and stop with
    :class:`Cancelled` once ``cancelled()`` returns True (checked between tiles)."""
    token = _WATCH.set(Watch(progress, cancelled))
    try:
        yield
    finally:
        _WATCH.reset(token)


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the caller asked to stop (no-op when nobody watches)."""
    w = _WATCH.get()
    if w is not None and w.cancelled is not None and w.cancelled():
        raise Cancelled("cancelled")


def checkpoint(done: int, total: int) -> None:
    """Between units of work: stop if asked, else report ``done`` of ``total``."""
    w = _WATCH.get()
    if w is None:
        return
    check_cancelled()
    if w.progress is not None:
        w.progress(done, total)


def interruptible(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, stoppable while it runs.

    One tile's forward pass, an x265 or a lossless JPEG XL call on a large image can take
    seconds and cannot be interrupted from Python. When somebody watches with a
    ``cancelled`` callback (the GUI's worker), the call runs on a helper thread and the
    caller polls the callback every :data:`POLL_S` seconds: a stop request raises
    :class:`Cancelled` at once and the call is abandoned (it ends in the background and its
    result is dropped; torch, x265 and libjxl release the interpreter lock, so it does
    not hold up the caller). Without a watcher (command line, evaluation) ``fn`` runs in
    the caller's thread as before. ``fn`` must not depend on thread-local state the
    caller set (torch's thread count and inference mode: see
    :func:`app.pipelines.netrun.in_helper_thread`).
    """
    w = _WATCH.get()
    if w is None or w.cancelled is None:
        return fn(*args)
    check_cancelled()
    box: dict[str, Any] = {}
    finished = threading.Event()
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["result"] = ctx.run(fn, *args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=target, name="edms-interruptible", daemon=True).start()
    while not finished.wait(POLL_S):
        if w.cancelled():
            raise Cancelled("cancelled")
    if "error" in box:
        raise box["error"]
    return box["result"]
