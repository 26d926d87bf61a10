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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.errors import Cancelled


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
