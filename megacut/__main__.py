"""``python -m megacut``: the same as the ``megacut`` command."""

import sys

from megacut.cli import main

sys.exit(main())
