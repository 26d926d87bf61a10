"""Keep ``None`` (and ``True``/``False``) alive under PySide6 builds that drop references.

PySide6 6.12.0 on CPython 3.11 returns ``None`` from void methods (``QLabel.setText``,
``QComboBox.addItem``, ``QGraphicsView.setTransform``, ...) without taking a reference,
so every such call lowers ``None``'s reference count by one. After a few thousand calls
more than the interpreter holds (opening a folder of a few hundred images is enough) the
count reaches zero and the process aborts with ``Fatal Python error: none_dealloc``, at
some random later point, often while quitting. CPython 3.12 made ``None`` immortal
(PEP 683), which is why the bug does not show there. The same was seen for ``True`` and
``False`` (``bool_dealloc`` at exit after a long test session). :func:`protect_none` does
for 3.11 what 3.12 does: it gives these singletons a reference count so large that no
number of calls can exhaust it. ``tests/test_gui_quit.py`` checks that many void calls no
longer abort and that quitting after opening a folder of images exits cleanly.
"""

from __future__ import annotations

import ctypes
import sys

_EXTRA = 1 << 40  # references added once; each buggy call takes one back
_done = False


def protect_none() -> None:
    """Make ``None``, ``True``, ``False``, ``Ellipsis`` and ``NotImplemented`` effectively
    immortal on CPython < 3.12 (idempotent; a no-op elsewhere)."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for singleton in (None, True, False, Ellipsis, NotImplemented):
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt: the first field
        refcnt.value += _EXTRA
    _done = True
