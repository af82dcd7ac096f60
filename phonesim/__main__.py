"""``python -m phonesim``: the same as the ``phonesim`` command."""

import sys

from phonesim.cli import main

sys.exit(main())
