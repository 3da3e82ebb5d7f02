"""The failure log and the alert: one implementation, in the CLI, for every failed run.

A dataset run that exits non-zero (by hand, from cron or from a scheduler)
appends one line to ``{log_dir}/failures.log``::

    2026-01-27T02:30:05Z pipeline=so env=prod dates=2026-01-27 exit=4 missing landing file: ...

and, when ``--alert-cmd`` or ``ETL_ALERT_CMD`` names a command, runs it
through the shell with ``ETL_PIPELINE``, ``ETL_ENV``, ``ETL_EXIT_CODE``,
``ETL_DATES`` and ``ETL_FAILURE_LINE`` in its environment. The env is the
run's ``--env`` (``default`` without one): one log folder may serve several.
Neither changes the run's exit status: a failure log that cannot be written
or an alert command that fails (or outlives :data:`ALERT_TIMEOUT`) is one
line on stderr. A dry run records
nothing, as it writes nothing anywhere.

``bin/etl-run`` only prepares the environment and execs the CLI, so it has
no copy of this. The one failure it meets before the CLI starts (another run
holds the pipeline's lock) it reports through this module's command line::

    python -m etl_targets.cli.alerts --exit-code 6 --message TEXT -- so --date 2026-01-27

The arguments after ``--`` are the refused run's own, read by the CLI's own
parser, so its ``--env`` (which ``log_dir``), dates and ``--alert-cmd`` are
the ones that run would have used.
"""

import argparse
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
from typing import List, Mapping, Optional, Sequence, TextIO

from etl_targets.config import load_settings
from etl_targets.errors import ConfigError

log = logging.getLogger("etl_targets")

#: the environment variable that names the alert command (``--alert-cmd`` wins)
ALERT_VARIABLE = "ETL_ALERT_CMD"
#: seconds an alert command may take before it is stopped
ALERT_TIMEOUT = 60.0
#: the file, in the log folder, that gets one line per failed run
FAILURES_LOG = "failures.log"


def after_run(args, log_dir: Optional[str], dates: Sequence[dt.date], code: int,
              error: Optional[str], environ: Mapping[str, str] = os.environ) -> None:
    """What the dataset command calls once its exit status is known: records a failure.

    Args:
        args: the dataset command's parsed arguments (``dataset``, ``dry_run``,
            ``alert_cmd``).
        log_dir: the run's log folder; None when the settings could not be read.
        dates: the business dates the run was asked for.
        code: the run's exit status; 0 records nothing.
        error: the run's one-line error.
        environ: where ``ETL_ALERT_CMD`` is read (injected by tests).
    """
    if code == 0 or args.dry_run:
        return
    report_failure(log_dir, args.dataset.folder, dates, code,
                   error or f"exit {code} (see the run's log file)",
                   alert_command(getattr(args, "alert_cmd", None), environ), environ,
                   env=env_name(args))


def alert_command(given: Optional[str], environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """``--alert-cmd`` if given (``""`` turns the alert off), else ``ETL_ALERT_CMD``."""
    command = given if given is not None else environ.get(ALERT_VARIABLE)
    return command or None


def env_name(args) -> str:
    """The run's configuration set as its records name it: ``--env``, or ``default``."""
    return getattr(args, "env", None) or "default"


def describe_dates(dates: Sequence[dt.date]) -> str:
    """``2026-01-27``, or ``2026-01-01..2026-01-31`` for a range; ``-`` when unknown."""
    if not dates:
        return "-"
    first, last = dates[0].isoformat(), dates[-1].isoformat()
    return first if first == last else f"{first}..{last}"


def failure_line(pipeline: str, dates: Sequence[dt.date], code: int, message: str,
                 now: Optional[dt.datetime] = None, env: str = "default") -> str:
    """The one line ``failures.log`` gets: UTC time, pipeline, env, dates, exit status, error."""
    now = now or dt.datetime.now(dt.timezone.utc)
    text = " ".join(str(message).split())
    return (f"{now.astimezone(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} pipeline={pipeline} "
            f"env={env} dates={describe_dates(dates)} exit={code} {text}")


def report_failure(log_dir: Optional[str], pipeline: str, dates: Sequence[dt.date], code: int,
                   message: str, command: Optional[str] = None,
                   environ: Mapping[str, str] = os.environ, timeout: float = ALERT_TIMEOUT,
                   err: Optional[TextIO] = None, env: str = "default") -> str:
    """Appends the failure line to ``{log_dir}/failures.log`` and runs the alert command.

    Never raises for the log or the alert: what goes wrong is printed on ``err``.

    Args:
        log_dir: the log folder (created if missing); None skips the file.
        pipeline: the dataset's folder name (``so``).
        dates: the dates the run was asked for.
        code: the run's exit status.
        message: its one-line error.
        command: a shell command, or None for no alert.
        environ: the alert command's environment, before the ``ETL_*`` it gets.
        timeout: seconds before the alert command is stopped.
        err: where problems are reported (stderr by default).
        env: the run's configuration set (``--env``), ``default`` without one.

    Returns:
        The failure line.
    """
    err = err or sys.stderr
    line = failure_line(pipeline, dates, code, message, env=env)
    log.info("failure recorded: %s", line)
    if log_dir is not None:
        path = os.path.join(log_dir, FAILURES_LOG)
        try:
            os.makedirs(log_dir, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")  # one short append: whole lines even when runs overlap
        except OSError as exc:
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=err, flush=True)
    if command:
        variables = {**environ, "ETL_PIPELINE": pipeline, "ETL_ENV": env,
                     "ETL_EXIT_CODE": str(code), "ETL_DATES": describe_dates(dates),
                     "ETL_FAILURE_LINE": line}
        _run_alert(command, variables, timeout, err)
    return line


def _run_alert(command: str, env: Mapping[str, str], timeout: float, err: TextIO) -> None:
    """Runs ``command`` through the shell (``/bin/sh``; ``cmd.exe`` on Windows), bounded in time.

    Its output goes to the run's log, and to ``err`` when it fails. It runs
    in a session of its own, so a timeout stops whatever it started too.
    """
    try:
        process = subprocess.Popen(command, shell=True, env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    except OSError as exc:
        print(f"error: cannot start the alert command: {exc}", file=err, flush=True)
        return
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        print(f"error: the alert command did not finish within {timeout:g}s; it was stopped",
              file=err, flush=True)
        return
    said = output.decode("utf-8", errors="replace").strip()
    if said:
        log.info("the alert command said: %s", said)
    if process.returncode != 0:
        last = said.splitlines()[-1] if said else "no output"
        print(f"error: the alert command failed (exit {process.returncode}): {last}",
              file=err, flush=True)


def _stop(process: subprocess.Popen) -> None:
    if os.name == "posix":
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the shell and everything it started
        except ProcessLookupError:
            pass
    else:
        process.kill()
    process.stdout.close()
    process.wait()


# --------------------------------------------------------------------------
# python -m etl_targets.cli.alerts: for bin/etl-run, when a run cannot start
# --------------------------------------------------------------------------

def main(argv: Optional[List[str]] = None, environ: Mapping[str, str] = os.environ) -> int:
    """Records the failure of a run that never started; returns 0 once it is reported.

    ``argv``: ``--exit-code N --message TEXT -- DATASET [the run's arguments]``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    own, run_argv = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    parser = argparse.ArgumentParser(
        prog="python -m etl_targets.cli.alerts",
        description="Record a run that could not start (bin/etl-run's lock) in failures.log "
                    "and raise the alert, as the CLI does for its own failures.",
        epilog="Arguments after -- are the refused run's: DATASET [--date ...] [--env ...].")
    parser.add_argument("--exit-code", type=int, required=True)
    parser.add_argument("--message", required=True)
    options = parser.parse_args(own)
    pipeline, run, dates = _refused_run(run_argv)
    if getattr(run, "dry_run", False):
        return 0  # a dry run records nothing, refused or not
    log_dir = None
    try:
        log_dir = load_settings(getattr(run, "env", None), environ).log_dir
    except ConfigError as exc:
        print(f"error: {exc}; {FAILURES_LOG} not written", file=sys.stderr)
    report_failure(log_dir, pipeline, dates, options.exit_code, options.message,
                   alert_command(getattr(run, "alert_cmd", None), environ), environ,
                   env=env_name(run))
    return 0


def _refused_run(run_argv: List[str]):
    """(pipeline, parsed arguments or None, dates) of the run's command line, as the CLI reads it."""
    from etl_targets.cli import build_parser, pipeline as dataset_command
    from etl_targets.datasets import DATASETS

    pipeline = run_argv[0] if run_argv else "-"
    try:
        run = build_parser(DATASETS).parse_args(run_argv)
    except SystemExit:  # argparse said why on stderr; record what is known
        return pipeline, None, []
    if getattr(run, "dataset", None) is None:
        return pipeline, None, []
    # The run's own reading of its dates (a missing --date is today's business date).
    return run.dataset.folder, run, dataset_command._dates(run)


if __name__ == "__main__":
    sys.exit(main())
