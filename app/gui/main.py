"""Entry point of the workbench window.

This is the foundation's minimal window: it lists the registered pipelines and opens
nothing yet. The full workbench (issue "The workbench window") replaces it.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from app import __version__
    from app.pipelines import registry

    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    window = QMainWindow()
    window.setObjectName("mainWindow")
    window.setWindowTitle(f"EDMS Workbench {__version__}")
    label = QLabel(
        "<h2>EDMS Workbench</h2><p>Pipelines: " + ", ".join(registry.available()) + "</p>"
        "<p>Use the <tt>edms</tt> command line meanwhile: <tt>edms encode</tt>, "
        "<tt>edms decode</tt>, <tt>edms info</tt>, <tt>edms eval</tt>.</p>"
    )
    label.setMargin(24)
    window.setCentralWidget(label)
    window.resize(720, 420)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
