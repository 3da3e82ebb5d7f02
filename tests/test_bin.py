"""Acceptance tests of ``bin/etl-run``, started the way cron starts it.

Every run goes through ``env -i``: the wrapper gets an empty environment
except ``ETL_ENV_FILE`` (and, where a test needs it, ``ETL_LOCK_WAIT``), and
must find the repository, its ``.venv`` and ``luigi.cfg`` by itself. The env
file points the lake, the landing area and the log folder (where
``failures.log`` and the lock files go) into a temporary folder.

The wrapper only sets up the environment, takes the lock and execs the CLI:
``failures.log`` and the alert come from the CLI (``tests/test_alerts.py``),
here they are checked as cron sees them, including for a run the lock refused.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from support.cli import Run, run_command
from support.env import etl_roots
from support.lakes import GOLD_TABLES, run_records
from support.landing import copy_landing, landing_name
from support.paths import REPO

ETL_RUN = REPO / "bin" / "etl-run"

JAN_1 = dt.date(2026, 1, 1)
#: 2026-01-27T02:30:00Z pipeline=so env=default dates=2026-01-27 exit=4 <the one-line error>
FAILURE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ pipeline=so env=\S+ "
                          r"dates=(?P<dates>\S+) exit=(?P<code>\d+) (?P<text>.*)$")

pytestmark = pytest.mark.skipif(shutil.which("flock") is None or shutil.which("env") is None,
                                reason="bin/etl-run needs flock(1) and env(1)")


class Site:
    """A machine's setup for cron: an env file, a landing area, a lake, a log folder."""

    def __init__(self, root: Path, **settings: str):
        self.root = root
        self.landing = root / "landing"
        self.lake = root / "lake"
        self.logs = root / "logs"
        self.cwd = root / "cwd"  # cron's working directory: anywhere
        (self.landing / "so").mkdir(parents=True)
        self.cwd.mkdir()
        self.env_file = root / "etl_targets.env"
        values = {**etl_roots(self.lake, self.landing, self.logs), **settings}
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))

    def land(self, *days: dt.date) -> None:
        copy_landing(self.landing, *days)

    def argv(self, *args: str, **env: str) -> List[str]:
        assignments = [f"{k}={v}" for k, v in {"ETL_ENV_FILE": str(self.env_file), **env}.items()]
        return ["env", "-i", *assignments, str(ETL_RUN), *args]

    def run(self, *args: str, **env: str) -> Run:
        return Run.of(run_command(self.argv(*args, **env), cwd=self.cwd))

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args, **env), cwd=self.cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def failures(self) -> List[str]:
        path = self.logs / "failures.log"
        return path.read_text().splitlines() if path.exists() else []

    def run_records(self) -> List[dict]:
        return run_records(self.lake)

    def lake_files(self) -> Dict[str, int]:
        if not self.lake.exists():
            return {}
        return {p.relative_to(self.lake).as_posix(): p.stat().st_mtime_ns
                for p in self.lake.rglob("*") if p.is_file()}


# --------------------------------------------------------------------------
# A run from an empty environment
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def from_empty_env(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("cron-ok"))
    site.land(JAN_1)
    return site, site.run("so", "--date", "2026-01-01")


def test_etl_run_with_an_empty_environment_builds_and_exits_0(from_empty_env):
    site, run = from_empty_env
    assert run.code == 0, str(run)
    for table in GOLD_TABLES:
        assert (site.lake / "gold" / table / "date=2026-01-01" / "data.parquet").is_file()
    assert "SUCCESS" in run.stdout, str(run)


def test_etl_run_takes_the_roots_from_the_env_file(from_empty_env):
    site, run = from_empty_env
    assert str(site.lake) in run.stdout and str(site.landing) in run.stdout, str(run)
    assert (site.logs / "so" / "so-2026-01-01.log").is_file()
    assert list(site.cwd.iterdir()) == []


def test_etl_run_success_adds_nothing_to_failures_log(from_empty_env):
    site, _ = from_empty_env
    assert site.failures() == []


def test_etl_run_refuses_an_unreadable_env_file_with_exit_3(tmp_path):
    site = Site(tmp_path)
    site.env_file.unlink()
    run = site.run("so", "--date", "2026-01-01")
    assert run.code == 3, str(run)
    assert str(site.env_file) in run.stderr, str(run)
    assert not site.lake.exists()


# --------------------------------------------------------------------------
# One run per pipeline at a time
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """A run refused because "another run" holds the pipeline's lock, with an alert set."""
    root = tmp_path_factory.mktemp("cron-locked")
    alert = root / "alert.txt"
    site = Site(root, ETL_ALERT_CMD=f'echo "$ETL_PIPELINE $ETL_EXIT_CODE $ETL_DATES" > '
                                    f'{shlex.quote(str(alert))}')
    site.land(JAN_1)
    site.logs.mkdir()
    with open(site.logs / ".etl-run-so.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # "another run" of the pipeline
        run = site.run("so", "--date", "2026-01-01", ETL_LOCK_WAIT="1")
    return site, run, alert


def test_etl_run_exits_6_while_another_run_holds_the_lock(refused):
    site, run, _ = refused
    assert run.code == 6, str(run)
    assert "another so run is still running" in run.stderr, str(run)
    assert site.lake_files() == {}


def test_etl_run_refused_by_the_lock_records_the_refused_run_in_failures_log(refused):
    site, run, _ = refused
    (line,) = site.failures()
    match = FAILURE_LINE.match(line)
    assert match, line
    assert (match.group("code"), match.group("dates")) == ("6", "2026-01-01"), line
    assert "another so run is still running" in match.group("text"), line


def test_etl_run_refused_by_the_lock_runs_the_alert_command(refused):
    _, run, alert = refused
    assert alert.read_text().strip() == "so 6 2026-01-01", str(run)


def test_etl_run_refused_by_the_lock_says_so_in_one_line(refused):
    _, run, _ = refused
    assert run.stderr.strip().splitlines() == [
        "etl-run: another so run is still running after 1s; not starting a second one"], str(run)


def test_etl_run_with_an_unwritable_log_folder_exits_3_saying_so(tmp_path):
    # A folder below a plain file cannot be made, not even by root.
    (tmp_path / "not-a-folder").write_text("")
    logs = tmp_path / "not-a-folder" / "logs"
    site = Site(tmp_path / "site", ETL_LOG_DIR=str(logs))
    site.land(JAN_1)
    run = site.run("so", "--date", "2026-01-01", ETL_LOCK_WAIT="1")
    assert run.code == 3, str(run)
    assert run.stderr.strip().splitlines() == [
        f"etl-run: cannot write log directory {logs}: Not a directory"], str(run)
    assert site.lake_files() == {}


def test_two_runs_started_at_once_run_the_pipeline_only_once(tmp_path):
    site = Site(tmp_path)
    site.land(*[dt.date(2026, 1, d) for d in range(1, 6)])  # a few seconds of work
    processes = [site.start("so", "--date", "2026-01-05") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    records = site.run_records()
    assert len(records) == 2
    assert sorted(r["tasks_run"] > 0 for r in records) == [False, True], records
    assert sum("already complete" in out for out, _ in outputs) == 1, outputs
    # The second one started only after the first had finished: serialised, not interleaved.
    first, second = sorted(records, key=lambda r: r["tasks_run"], reverse=True)
    log = (site.logs / "so" / "so-2026-01-05.log").read_text()
    first_finished = log.index(f"run {first['run_id']} finished")
    assert first_finished < log.index(f"run {second['run_id']} started")
    assert site.failures() == []


# --------------------------------------------------------------------------
# Failures: failures.log and ETL_ALERT_CMD
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    root = tmp_path_factory.mktemp("cron-fail")
    alert = root / "alert.txt"
    command = (f'printf "%s\\n" "$ETL_PIPELINE $ETL_EXIT_CODE $ETL_DATES" "$ETL_FAILURE_LINE" '
               f'> {shlex.quote(str(alert))}')
    site = Site(root, ETL_ALERT_CMD=command)
    return site, site.run("so", "--date", "2026-01-01"), alert  # no landing file


def test_etl_run_exits_with_the_cli_status(failing):
    _, run, _ = failing
    assert run.code == 4, str(run)


def test_etl_run_failure_appends_a_line_to_failures_log(failing):
    site, run, _ = failing
    (line,) = site.failures()
    match = FAILURE_LINE.match(line)
    assert match, line
    assert (match.group("code"), match.group("dates")) == ("4", "2026-01-01"), line
    assert str(site.landing / "so" / landing_name(JAN_1)) in match.group("text"), line


def test_etl_run_failure_runs_the_alert_command_with_the_failure_line(failing):
    site, run, alert = failing
    assert alert.read_text().splitlines() == ["so 4 2026-01-01", *site.failures()], str(run)


def test_etl_run_failing_backfill_names_its_range_in_failures_log(tmp_path):
    site = Site(tmp_path)
    run = site.run("so", "--start", "2026-01-01", "--end", "2026-01-03")  # no landing files
    assert run.code == 4, str(run)
    (line,) = site.failures()
    assert FAILURE_LINE.match(line).group("dates") == "2026-01-01..2026-01-03", line


def test_etl_run_failing_alert_command_keeps_the_run_status(tmp_path):
    site = Site(tmp_path, ETL_ALERT_CMD="echo webhook down >&2; exit 9")
    run = site.run("so", "--date", "2026-01-01")  # no landing file
    assert run.code == 4, str(run)
    assert "the alert command failed (exit 9): webhook down" in run.stderr, str(run)
    assert len(site.failures()) == 1


def test_etl_run_alert_written_as_the_readme_shows_runs_with_the_failure(tmp_path):
    # The README's env file line, with echo for curl: single-quoted, naming
    # variables set only at alert time.
    readme = (REPO / "README.md").read_text()
    (shown,) = re.findall(r"^ETL_ALERT_CMD='curl -fsS -X POST -d (\"[^\"]*\") \S+'$", readme, re.M)
    site = Site(tmp_path)
    alert = tmp_path / "alert.txt"
    with site.env_file.open("a") as env_file:
        env_file.write(f"ETL_ALERT_CMD='echo {shown} > {alert}'\n")
    run = site.run("so", "--date", "2026-01-01")  # no landing file
    assert run.code == 4, str(run)
    assert alert.read_text().strip() == "etl so 2026-01-01 failed: exit 4", str(run)
    assert len(site.failures()) == 1


# --------------------------------------------------------------------------
# The wrappers only set up the environment: one implementation of failures
# --------------------------------------------------------------------------

def _code_lines(path, comment: str) -> List[str]:
    lines = path.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().lower().startswith(comment)]


@pytest.mark.parametrize("wrapper,comment", [("etl-run", "#"), ("etl-run.bat", "rem")])
def test_wrapper_has_no_failure_log_or_alert_logic_of_its_own(wrapper, comment):
    code = "\n".join(_code_lines(REPO / "bin" / wrapper, comment))
    for word in ("failures.log", "ETL_ALERT_CMD", "ETL_FAILURE_LINE"):
        assert word not in code, f"bin/{wrapper} handles {word} itself"
    assert "python -m etl_targets" in code
