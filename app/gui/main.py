"""Entry point of the workbench window: ``edms-workbench [IMAGE_OR_EDMS ...]``.

``python main.py`` and ``python -m app.gui.main`` do the same. Files given on the
command line are opened as if dropped on the window.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from app.gui.main_window import run_app

    args = list(sys.argv if argv is None else [sys.argv[0], *argv])
    if any(a in ("-h", "--help") for a in args[1:]):
        print("usage: edms-workbench [IMAGE_OR_EDMS ...]\n\n"
              "Opens the EDMS Workbench window; the files given are opened in it.")
        return 0
    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
