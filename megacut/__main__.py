"""``python -m megacut``: the same as the ``megacut`` command."""

import sys

from .cli import main

sys.exit(main())
