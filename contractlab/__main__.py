"""``python -m contractlab`` is the ``contractlab`` command."""

import sys

from .proofs_checks.cli import main

sys.exit(main())
