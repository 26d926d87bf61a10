"""How the window fits the screen: its first size, and a compact layout for low screens.

Plain arithmetic on rectangles (tested without a display): the window calls
:func:`first_geometry` when there is no saved geometry, and :func:`bottom_dock_height`
whenever its height crosses :data:`COMPACT_HEIGHT`, so that the images keep most of a
laptop's 720 pixels.
"""

from __future__ import annotations

PREFERRED = (1480, 940)  # the first window on a large screen
COMPACT_HEIGHT = 800  # below this height the bottom docks are kept low


def first_geometry(avail: tuple[int, int, int, int],
                   preferred: tuple[int, int] = PREFERRED) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the first window inside the screen's available
    geometry ``avail`` (``x, y, width, height``, without task bars): the preferred size
    where it fits, else the whole available area less a small margin, centred."""
    ax, ay, aw, ah = avail
    margin = 8 if aw < 900 or ah < 600 else 16  # room for the frame
    w = min(preferred[0], aw - 2 * margin)
    h = min(preferred[1], ah - 2 * margin)
    return ax + (aw - w) // 2, ay + (ah - h) // 2, max(w, 1), max(h, 1)


def compact(height: int) -> bool:
    """The window is too low for the full layout."""
    return height < COMPACT_HEIGHT


def bottom_dock_height(height: int) -> int:
    """Height of the bottom docks (RD curves, results, layers) in a window ``height``
    pixels high: 330 px in a tall window, about a quarter of a low one (never below 150)."""
    if not compact(height):
        return 330
    return max(150, int(height * 0.27))
