"""The failure log and the alert, done once by the CLI for every failed dataset run.

Runs are subprocesses (``python -m etl_targets``) with the roots and the log
folder in a temporary folder; a run fails by asking for a date whose
landing file is absent (exit 4). The alert commands write what they got
into a file the test reads. ``bin/etl-run`` is tested the same way, as cron
starts it, in ``tests/test_bin.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import List

import pytest

from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing

from etl_targets.cli import alerts

#: 2026-01-27T02:30:00Z pipeline=so env=default dates=2026-01-27 exit=4 <the one-line error>
FAILURE_LINE = re.compile(r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) pipeline=(?P<pipeline>\w+) "
                          r"env=(?P<env>\S+) dates=(?P<dates>\S+) exit=(?P<code>\d+) (?P<text>.*)$")
#: writes the five variables an alert command gets, one a line
RECORD_ALERT = ('printf "%s\\n" "$ETL_PIPELINE" "$ETL_EXIT_CODE" "$ETL_DATES" "$ETL_FAILURE_LINE"'
                ' "$ETL_ENV" > {file}')


class Site:
    """A landing area, a lake and a log folder; runs of the CLI against them."""

    def __init__(self, root: Path):
        self.root = root
        self.landing, self.lake, self.logs = root / "landing", root / "lake", root / "logs"
        (self.landing / "so").mkdir(parents=True)
        self.alert_file = root / "alert.txt"

    def recording_alert(self) -> str:
        return RECORD_ALERT.format(file=shlex.quote(str(self.alert_file)))

    def run(self, *args: str, **env: str) -> Run:
        environment = cli_environment(self.lake, self.landing, self.logs, **env)
        return Run.of(run_command(etl_argv(*args), cwd=self.root, env=environment))

    def failures(self) -> List[str]:
        path = self.logs / alerts.FAILURES_LOG
        return path.read_text().splitlines() if path.exists() else []

    def alert(self) -> List[str]:
        return self.alert_file.read_text().splitlines() if self.alert_file.exists() else []


@pytest.fixture
def site(tmp_path) -> Site:
    return Site(tmp_path)


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    """One failed run (no landing file for its date) with a recording alert command."""
    site = Site(tmp_path_factory.mktemp("failed"))
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    run = site.run("so", "--date", "2026-01-02", ETL_ALERT_CMD=site.recording_alert())
    after = dt.datetime.now(dt.timezone.utc)
    return site, run, (before, after)


# --------------------------------------------------------------------------
# failures.log
# --------------------------------------------------------------------------

def test_failed_run_keeps_its_exit_status(failed):
    _, run, _ = failed
    assert run.code == 4, str(run)


def test_failed_run_appends_one_line_with_utc_time_pipeline_dates_exit_and_error(failed):
    site, run, (before, after) = failed
    (line,) = site.failures()
    match = FAILURE_LINE.match(line)
    assert match, line
    when = dt.datetime.strptime(match["time"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.timezone.utc)
    assert before <= when <= after
    assert (match["pipeline"], match["env"], match["dates"], match["code"]) == (
        "so", "default", "2026-01-02", "4")
    errors = [line[len("error: "):] for line in run.stderr.splitlines()
              if line.startswith("error: ")]
    assert errors == [match["text"]], str(run)


def test_failed_backfill_line_names_the_range(site):
    run = site.run("so", "--start", "2026-01-01", "--end", "2026-01-31")
    assert run.code == 4, str(run)
    (line,) = site.failures()
    assert FAILURE_LINE.match(line)["dates"] == "2026-01-01..2026-01-31", line


def test_each_failed_run_appends_its_own_line(site):
    for day in ("2026-01-01", "2026-01-02"):
        assert site.run("so", "--date", day).code == 4
    assert [FAILURE_LINE.match(line)["dates"] for line in site.failures()] == [
        "2026-01-01", "2026-01-02"]


def test_successful_run_records_nothing_and_raises_no_alert(site):
    copy_landing(site.landing, dt.date(2026, 1, 1))
    run = site.run("so", "--date", "2026-01-01", ETL_ALERT_CMD=site.recording_alert())
    assert run.code == 0, str(run)
    assert site.failures() == [] and site.alert() == []


def test_failed_dry_run_records_nothing_and_raises_no_alert(site):
    run = site.run("so", "--date", "2026-01-02", "--dry-run",
                   ETL_ALERT_CMD=site.recording_alert())
    assert run.code == 4, str(run)
    assert site.failures() == [] and site.alert() == []
    assert not site.logs.exists()


# --------------------------------------------------------------------------
# The alert command
# --------------------------------------------------------------------------

def test_alert_command_gets_pipeline_exit_status_dates_and_the_failure_line(failed):
    site, run, _ = failed
    assert site.alert() == ["so", "4", "2026-01-02", *site.failures(), "default"], str(run)


def test_failure_line_and_alert_name_the_runs_env(site):
    config = site.root / "qa.cfg"  # a set that contradicts none of the ETL_* roots
    config.write_text("[etl_targets]\n[etl_targets.qa]\nretention_trash = 30d\n")
    run = site.run("so", "--date", "2026-01-02", "--env", "qa",
                   ETL_ALERT_CMD=site.recording_alert(), LUIGI_CONFIG_PATH=str(config))
    assert run.code == 4, str(run)
    (line,) = site.failures()
    assert FAILURE_LINE.match(line)["env"] == "qa", line
    assert site.alert()[-1] == "qa", str(run)


def test_alert_cmd_argument_wins_over_the_environment(site):
    run = site.run("so", "--date", "2026-01-02", "--alert-cmd", site.recording_alert(),
                   ETL_ALERT_CMD="echo from-the-environment > /dev/null; exit 7")
    assert run.code == 4, str(run)
    assert site.alert()[:2] == ["so", "4"], str(run)
    assert "alert command failed" not in run.stderr, str(run)


def test_empty_alert_cmd_argument_turns_the_alert_off(site):
    run = site.run("so", "--date", "2026-01-02", "--alert-cmd", "",
                   ETL_ALERT_CMD=site.recording_alert())
    assert run.code == 4, str(run)
    assert site.alert() == [] and len(site.failures()) == 1


def test_failing_alert_command_is_one_line_on_stderr_and_keeps_the_exit_status(site):
    run = site.run("so", "--date", "2026-01-02",
                   ETL_ALERT_CMD="echo webhook unreachable >&2; exit 9")
    assert run.code == 4, str(run)
    said = [line for line in run.stderr.splitlines() if "alert command" in line]
    assert said == ["error: the alert command failed (exit 9): webhook unreachable"], str(run)


def test_alert_output_goes_to_the_run_log_and_json_stdout_stays_json(site):
    run = site.run("so", "--date", "2026-01-02", "--log-format", "json",
                   ETL_ALERT_CMD="echo posted to the webhook")
    assert run.code == 4, str(run)
    assert all(isinstance(event, dict) for event in run.json_events()), str(run)
    assert "posted to the webhook" not in run.output
    assert "posted to the webhook" in (site.logs / "so" / "so-2026-01-02.log").read_text()


def test_alert_command_that_outlives_the_timeout_is_stopped_with_what_it_started(tmp_path):
    pid_file = tmp_path / "sleeper.pid"
    err = io.StringIO()
    started = time.monotonic()
    alerts.report_failure(str(tmp_path), "so", [dt.date(2026, 1, 2)], 4, "boom",
                          f"sleep 60 & echo $! > {pid_file}; wait", environ=dict(os.environ),
                          timeout=1, err=err)
    assert time.monotonic() - started < 10
    assert err.getvalue() == "error: the alert command did not finish within 1s; it was stopped\n"
    assert not _alive(int(pid_file.read_text()), within=5)


def test_unwritable_failures_log_is_reported_and_the_alert_still_runs(tmp_path):
    (tmp_path / "file").write_text("")
    log_dir = tmp_path / "file" / "logs"  # below a plain file: not even root can make it
    alert = tmp_path / "alert.txt"
    err = io.StringIO()
    line = alerts.report_failure(str(log_dir), "so", [dt.date(2026, 1, 2)], 4, "boom",
                                 f'echo "$ETL_FAILURE_LINE" > {alert}', environ=dict(os.environ),
                                 err=err)
    assert err.getvalue() == f"error: cannot write {log_dir / 'failures.log'}: Not a directory\n"
    assert alert.read_text().strip() == line


# --------------------------------------------------------------------------
# python -m etl_targets.cli.alerts: a run that never started (bin/etl-run's lock)
# --------------------------------------------------------------------------

def test_alerts_entry_records_a_refused_run_as_the_run_would_have(site):
    environment = cli_environment(site.lake, site.landing, site.logs,
                                  ETL_ALERT_CMD=site.recording_alert())
    done = run_command([sys.executable, "-m", "etl_targets.cli.alerts", "--exit-code", "6",
                        "--message", "another so run is still running", "--",
                        "so", "--start", "2026-01-01", "--end", "2026-01-05"],
                       cwd=site.root, env=environment)
    assert done.returncode == 0, done.stderr
    (line,) = site.failures()
    match = FAILURE_LINE.match(line)
    assert (match["dates"], match["code"], match["text"]) == (
        "2026-01-01..2026-01-05", "6", "another so run is still running"), line
    assert site.alert() == ["so", "6", "2026-01-01..2026-01-05", line, "default"]
    assert not site.lake.exists()


def _alive(pid: int, within: float) -> bool:
    """True if ``pid`` is still a live (not zombie) process after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True
