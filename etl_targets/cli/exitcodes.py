"""Exit statuses of ``etl-targets``: the one table, documented in the README.

Distinct codes let cron wrappers and monitors tell "the ERP file is late"
from "the data is bad" from "our setup is broken" without reading logs.
Every command maps an exception to its status through :func:`for_error`
and nowhere else; a test holds the README's table to :data:`MEANINGS`.
"""

from typing import Dict, Tuple, Type

from etl_targets.errors import (ConfigError, ContractError, EtlError, MissingInputError,
                                SchedulerUnavailable, StorageError, UsageError)

OK = 0                 # success, including "already complete"
INTERNAL_ERROR = 1     # a bug: unexpected exception (traceback in the log)
BAD_ARGUMENTS = 2      # argparse's own code for a wrong command line
CONFIG_ERROR = 3       # luigi.cfg / environment contradictory or incomplete
MISSING_INPUT = 4      # an expected landing file is absent
TASK_FAILED = 5        # a task failed: bad input data or a storage error
NOT_RUN = 6            # scheduling failed or tasks were not run (scheduler, lock)
STALE = 7              # `freshness`: the newest complete date is too old, or the last run failed
ANOMALY = 9            # --fail-on-anomaly: a landed row count is out of line with its history
OUT_OF_DATE = 8        # `status`: some date in the range is not done
STOPPED_BY_SIGINT = 130   # Ctrl-C (128 + the signal's number, as shells report it)
STOPPED_BY_SIGTERM = 143  # SIGTERM: a deadline, an eviction, `timeout`

#: status -> what it means, word for word the README's "Exit status" table
MEANINGS: Dict[int, str] = {
    OK: 'success, including "already complete" (nothing to build)',
    INTERNAL_ERROR: "internal error (a bug; traceback in the log)",
    BAD_ARGUMENTS: "bad arguments",
    CONFIG_ERROR: "configuration error (unknown `--env`, missing root, contradicting override)",
    MISSING_INPUT: "missing input: a landing file (or `--input`) is absent; the message names it",
    TASK_FAILED: "a task failed: bad input data (e.g. a missing column) or a storage error",
    NOT_RUN: "not run: scheduling failed, or (bin/etl-run) another run of the pipeline "
             "holds the lock",
    STALE: "`freshness`: the newest complete date is older than expected, or the last run failed",
    ANOMALY: "`--fail-on-anomaly`: a date's landed row count is out of line with its history "
             "(the data was published)",
    OUT_OF_DATE: "`status`: some date in the range is not done (no landing file, missing, "
                 "out of date or failed)",
    STOPPED_BY_SIGINT: "stopped by Ctrl-C (SIGINT): recorded as a failed run; what was not "
                       "finished is not published",
    STOPPED_BY_SIGTERM: "stopped by SIGTERM (a deadline, an eviction, `timeout`): recorded as a "
                        "failed run; what was not finished is not published",
}

#: the signal a stopped run names -> its status
STOPPED = {"SIGINT": STOPPED_BY_SIGINT, "SIGTERM": STOPPED_BY_SIGTERM}

#: exception type -> status; the first matching row wins, so subclasses come first
BY_ERROR: Tuple[Tuple[Type[BaseException], int], ...] = (
    (UsageError, BAD_ARGUMENTS),
    (ConfigError, CONFIG_ERROR),
    (MissingInputError, MISSING_INPUT),
    (ContractError, TASK_FAILED),
    (StorageError, TASK_FAILED),
    (SchedulerUnavailable, NOT_RUN),
    (EtlError, TASK_FAILED),
)


def for_error(exc: BaseException) -> int:
    """The exit status of a failure; anything not ours is a bug."""
    for kind, code in BY_ERROR:
        if isinstance(exc, kind):
            return code
    return INTERNAL_ERROR
