"""Build hook: a wheel carries the top-level ``models/``, ``resources/`` and
``docs/edms-format.md`` inside the package (``app/_shipped/``), where
:func:`app.shipped.shipped_path` finds them with importlib.resources.

Everything else is declared in pyproject.toml. setuptools' ``data-files`` would put them
outside the package (where nothing can find them), and mapping the folders as packages
would need every subpackage listed by hand, so the files are copied into the build tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("models", "resources", "docs/edms-format.md")  # = app.shipped.SHIPPED


class BuildPyWithShipped(build_py):
    """``build_py`` plus a copy of the shipped files into ``<build>/app/_shipped/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads them from the source tree
            return
        target = Path(self.build_lib) / "app" / "_shipped"
        for rel in SHIPPED:
            src, dst = ROOT / rel, target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".*", "__pycache__"))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithShipped})
