"""The per-run log file: full detail and tracebacks, never on the console.

``{log_dir}/[{env}/]{pipeline}/{pipeline}-YYYY-MM-DD.log`` (named after the
run's date, or a backfill's ``--end``), appended to, so the
console can stay at one line per stage and one line per error while the log
keeps luigi's own messages and every traceback.
"""

import contextlib
import logging
import os
from typing import Iterator, Optional

import luigi.configuration

from etl_targets.errors import ConfigError

#: Client libraries whose debug output may carry request signatures.
QUIET_LOGGERS = ("botocore", "aiobotocore", "s3fs", "fsspec", "urllib3", "asyncio")


def log_path(log_dir: str, pipeline: str, day, env: Optional[str] = None) -> str:
    """``{log_dir}/[<env>/]<pipeline>/<pipeline>-D.log``: runs of different ``--env`` never share a file."""
    folder = os.path.join(log_dir, env, pipeline) if env else os.path.join(log_dir, pipeline)
    return os.path.join(folder, f"{pipeline}-{day.isoformat()}.log")


@contextlib.contextmanager
def run_log(path: Optional[str], run_id: str) -> Iterator[Optional[ConfigError]]:
    """Sends every log record of this run to ``path`` (and nowhere else).

    luigi is told not to configure logging, so its own console handler never
    prints tracebacks on the terminal. ``path=None`` (a dry run, which
    writes nothing anywhere) discards the records instead.

    Yields:
        None; or, when the log file cannot be made or opened (a log folder
        that is not writable, a file in its way), the ConfigError naming it
        (exit 3, as ``bin/etl-run`` says of a log folder it cannot write),
        and records are discarded: the caller fails the run with it, so the
        failure still gets its one line and its run record.
    """
    luigi.configuration.get_config().set("core", "no_configure_logging", "true")
    handler: logging.Handler = logging.NullHandler()
    error = None
    if path is not None:
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            error = ConfigError(f"cannot write the log file {path} (log_dir): "
                                 f"{exc.strerror or exc} ({exc.filename or path})")
            error.__cause__ = exc
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s %(name)s [{run_id}] %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield error
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
