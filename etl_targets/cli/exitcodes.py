"""Exit statuses of ``etl-targets``, documented in the README.

Distinct codes let cron wrappers and monitors tell "the ERP file is late"
from "the data is bad" from "our setup is broken" without reading logs.
"""

OK = 0                 # success, including "already complete"
INTERNAL_ERROR = 1     # a bug: unexpected exception (traceback in the log)
BAD_ARGUMENTS = 2      # argparse's own code for a wrong command line
CONFIG_ERROR = 3       # luigi.cfg / environment contradictory or incomplete
MISSING_INPUT = 4      # an expected landing file is absent
TASK_FAILED = 5        # a task failed: bad input data or a storage error
NOT_RUN = 6            # scheduling failed or tasks were not run (scheduler, lock)
STALE = 7              # `freshness`: last success older than --max-age
