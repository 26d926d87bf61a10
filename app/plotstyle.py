"""One style per pipeline for every RD plot: the window's live curves and the exported
matplotlib figures (:func:`app.eval.plot_rd`) draw a pipeline the same way.

A style is a colour, a marker and a line dash. Colours come from colour-blind-safe
palettes (Okabe & Ito's, black left out, then Paul Tol's muted scheme), markers cycle
independently of colours (11 markers against 12 colours: the pair repeats only after
132 pipelines), and the second round of colours is dashed. A style belongs to a pipeline
*name*, not to its place in a list: the built-in pipelines have fixed slots (the ones
compared most often first, so they get the most distinct colours), and any other name
(a plug-in) takes a slot from a hash of its name, moved on to the next free slot when two
names of one plot collide. Plain Python: no Qt, no matplotlib, no torch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MARKERS", "PALETTE", "Style", "pipeline_styles", "style_for"]

#: Okabe & Ito (2008) without black (a dark theme's background), yellow last (it is
#: faint on white), then Paul Tol's muted colours that differ most from them
PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 114, 178),    # blue (Okabe-Ito)
    (230, 159, 0),    # orange
    (0, 158, 115),    # bluish green
    (213, 94, 0),     # vermillion
    (204, 121, 167),  # reddish purple
    (86, 180, 233),   # sky blue
    (51, 34, 136),    # indigo (Tol muted)
    (153, 153, 51),   # olive
    (136, 34, 85),    # wine
    (68, 170, 153),   # teal
    (204, 102, 119),  # rose
    (240, 228, 66),   # yellow (Okabe-Ito)
)

#: (pyqtgraph symbol, matplotlib marker) pairs of the same shape
MARKERS: tuple[tuple[str, str], ...] = (
    ("o", "o"), ("s", "s"), ("t1", "^"), ("d", "D"), ("star", "*"), ("t", "v"),
    ("p", "p"), ("h", "h"), ("x", "x"), ("t2", ">"), ("+", "P"),
)

#: built-in pipelines in slot order: those compared most often first
KNOWN: tuple[str, ...] = (
    "edms", "hevc", "dsslic", "smic", "menet", "hyperprior", "jpeg", "webp", "jpeg2000",
    "avif", "jpegxl", "hevc-pf", "hevc-420", "deepsic-pre", "deepsic-post", "dsslic-lb",
    "edms-noenh", "edms-lb", "edms-pf", "edms-lb-pf", "menet-noenh", "hevc-spf",
    "layered-ref", "layered-ref-lb", "deepsic-bp-pre", "deepsic-bp-post",
)

SLOTS = len(PALETTE) * len(MARKERS)  # 132 distinct colour-and-marker pairs


@dataclass(frozen=True)
class Style:
    """How one pipeline's curve is drawn."""

    rgb: tuple[int, int, int]
    symbol: str  # pyqtgraph's name of the marker
    marker: str  # matplotlib's name of the same marker
    dashed: bool  # the second round of colours is dashed

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


def _slot_style(slot: int) -> Style:
    symbol, marker = MARKERS[slot % len(MARKERS)]
    return Style(PALETTE[slot % len(PALETTE)], symbol, marker,
                 dashed=(slot // len(PALETTE)) % 2 == 1)


def _home_slot(name: str) -> int:
    if name in KNOWN:
        return KNOWN.index(name)
    free = SLOTS - len(KNOWN)
    return len(KNOWN) + zlib.crc32(name.encode("utf-8")) % free


def pipeline_styles(names: Iterable[str]) -> dict[str, Style]:
    """A distinct style for every name (up to 132 names): a built-in pipeline always has
    its own slot; another name its hashed slot, or the next free one on a collision."""
    names = list(dict.fromkeys(names))
    taken: dict[int, str] = {}
    out: dict[str, Style] = {}
    # built-ins first, so a plug-in never takes a built-in's slot; the rest in name order,
    # so the outcome does not depend on the order the names came in
    for name in sorted(names, key=lambda n: (n not in KNOWN, n)):
        slot = _home_slot(name)
        while slot in taken:
            slot = (slot + 1) % SLOTS if slot + 1 < SLOTS else len(KNOWN)
            if len(taken) >= SLOTS:  # more names than pairs: share, rather than loop
                break
        taken.setdefault(slot, name)
        out[name] = _slot_style(slot)
    return {name: out[name] for name in names}


def style_for(name: str) -> Style:
    """The style of ``name`` alone (a plug-in's may move when it collides with another
    name in the same plot: use :func:`pipeline_styles` for a plot's set of names)."""
    return _slot_style(_home_slot(name))
