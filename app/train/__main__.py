"""``python -m app.train segnet|dsslic|smapnet ...``"""

import sys

from app.train import train_main

raise SystemExit(train_main(sys.argv[1:]))
