"""``python -m contractlab`` is the ``contractlab`` command."""

import sys

from .cli import main

sys.exit(main())
