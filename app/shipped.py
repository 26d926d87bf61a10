"""Files the project ships next to the code: network weights (``models/``), the desktop
icon and entry (``resources/``) and the format spec (``docs/edms-format.md``).

In the repository they stay at the top level. A built wheel carries copies inside the
package, under ``app/_shipped/`` (``setup.py`` copies them at build time), found here with
:mod:`importlib.resources`; an editable install or a checkout has no such folder and
reads them from the source tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: What a wheel carries, relative to the repository root (files or whole folders).
SHIPPED = ("models", "resources", "docs/edms-format.md")
PACKAGED = "_shipped"


def shipped_path(*parts: str) -> Path:
    """Path of a shipped file or folder, e.g. ``shipped_path("models")``: the installed
    package's copy when there is one, else the source tree's."""
    packaged = resources.files("app").joinpath(PACKAGED, *parts)
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[1].joinpath(*parts)
