"""``python -m rft.demo``: see :mod:`rft.demo`."""

import sys

from rft.demo import main

sys.exit(main())
