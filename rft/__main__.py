"""``python -m rft`` runs the ``rft`` command line."""

import sys

from rft.cli import main

sys.exit(main())
