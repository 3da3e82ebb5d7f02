"""Acceptance tests of ``bin/etl-run``, started the way cron starts it.

Every run goes through ``env -i``: the wrapper gets an empty environment
except ``ETL_ENV_FILE`` (and, where a test needs it, ``ETL_LOCK_WAIT``), and
must find the repository, its ``.venv`` and ``luigi.cfg`` by itself. The env
file points the lake, the landing area and the log folder (where
``failures.log`` and the lock files go) into a temporary folder.
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
#: 2026-01-27T02:30:00Z pipeline=so exit=4 <last stderr lines>
FAILURE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
                          r"pipeline=so exit=(?P<code>\d+) (?P<text>.*)$")

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

def test_etl_run_exits_6_while_another_run_holds_the_lock(tmp_path):
    site = Site(tmp_path)
    site.land(JAN_1)
    site.logs.mkdir()
    with open(site.logs / ".etl-run-so.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # "another run" of the pipeline
        run = site.run("so", "--date", "2026-01-01", ETL_LOCK_WAIT="1")
    assert run.code == 6, str(run)
    assert "another so run is still running" in run.stderr, str(run)
    assert site.lake_files() == {}
    (line,) = site.failures()
    match = FAILURE_LINE.match(line)
    assert match and match.group("code") == "6", line


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
    command = f'echo "$ETL_PIPELINE $ETL_EXIT_CODE" > {shlex.quote(str(alert))}'
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
    assert match.group("code") == "4"
    assert str(site.landing / "so" / landing_name(JAN_1)) in match.group("text"), line


def test_etl_run_failure_runs_the_alert_command(failing):
    _, run, alert = failing
    assert alert.read_text().strip() == "so 4", str(run)


def test_etl_run_alert_written_as_the_readme_shows_runs_with_the_failure(tmp_path):
    # The README's env file line: single-quoted, naming variables set only at alert time.
    site = Site(tmp_path)
    alert = tmp_path / "alert.txt"
    with site.env_file.open("a") as env_file:
        env_file.write(f"ETL_ALERT_CMD='echo \"etl $ETL_PIPELINE failed: exit $ETL_EXIT_CODE\""
                       f" > {alert}'\n")
    run = site.run("so", "--date", "2026-01-01")  # no landing file
    assert run.code == 4, str(run)
    assert alert.read_text().strip() == "etl so failed: exit 4", str(run)
    assert len(site.failures()) == 1
