"""Launch the EDMS Workbench window (same as the ``edms-workbench`` command)."""

import sys

from app.gui.main import main

if __name__ == "__main__":
    sys.exit(main())
