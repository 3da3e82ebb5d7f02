"""``python -m etl_targets`` is the ``etl-targets`` command."""

import sys

from etl_targets.cli import main

sys.exit(main())
