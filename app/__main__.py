"""``python -m app`` is the ``edms`` command."""

import sys

from app.cli import main

sys.exit(main())
