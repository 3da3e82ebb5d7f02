"""etl_targets: daily ERP drops -> bronze/silver/gold as a graph of luigi targets.

``luigi --module etl_targets GoldSO --date 2026-01-27`` finds the tasks
here; luigi's range tools are imported so ``RangeDaily --of GoldSO`` works
on the same command line.
"""

import luigi.tools.range  # noqa: F401  (registers RangeDaily & co. for `luigi --module`)

from etl_targets.graph.tasks import *  # noqa: F401,F403
from etl_targets.graph.tasks import TASKS

__version__ = "0.1.0"
__all__ = sorted(TASKS)
