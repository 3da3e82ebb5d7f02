"""Long backfills in windows: every date costs the same, however long the range.

Issue 12, item 1. ``runner.build`` schedules a long range one window of
consecutive dates at a time (``etl_targets.graph.windows``: calendar months
of at most 31 dates), each one ``luigi.build``, earliest first. Seen from
outside:

* a backfill of 60 small days from 2026-01-01 to 2026-03-01 (three months,
  three windows) builds every date exactly once, each month's outputs all
  written before any of the next month's, with one progress bar over all
  60 dates;
* a rerun is a no-op decided from the listings: luigi is never started;
* a failure in the second window is the run's failure (exit 5, the file
  named) and the third window is never attempted;
* two backfills sharing one ``luigid`` still build each task once.

How long any of this takes is measured by ``bench/long_backfill.py``; no
test here times anything.
"""

import datetime as dt
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import luigi
import pytest

from etl_targets import GoldSO, GoldSOMTD
from etl_targets.datasets.samples import so as sample
from etl_targets.graph import runner, windows

from support.cli import etl_argv, explain, run_command
from support.env import cli_environment
from support.lakes import contract_paths, partition, roots, run_records
from support.landing import drop_column, landing_name
from support.terminal import run_on_a_terminal

START = dt.date(2026, 1, 1)
DAYS = [START + dt.timedelta(days=k) for k in range(60)]  # 2026-01-01 .. 2026-03-01
END = DAYS[-1]
STEPS = ("bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region")
#: tiny days: one bad row would already trip silver's 5% reject-ratio gate
CLEAN = sample.Messiness(invalid=0.0)


def months(days):
    return sorted({(day.year, day.month) for day in days})


def backfill_argv(start, end, *extra):
    return etl_argv("so", "--start", start.isoformat(), "--end", end.isoformat(), *extra)


def built(record):
    return [(stage["step"], stage["date"]) for stage in record["stages"]]


def everything(days):
    return {(step, day.isoformat()) for step in STEPS for day in days}


def progress_counts(shown: str):
    """Every ``N/M dates`` the progress bar drew, in order."""
    return [(int(n), int(m)) for n, m in re.findall(r"(\d+)/(\d+) dates", shown)]


def written_at(lake: Path, day: dt.date):
    """mtime_ns of every output of ``day``."""
    return [(lake / path).stat().st_mtime_ns for path in contract_paths(day).values()]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """60 generated small landing days (read only)."""
    root = tmp_path_factory.mktemp("generated") / "landing"
    sample.generate(START, len(DAYS), 5, root, seed=1201, mess=CLEAN)
    return root


@pytest.fixture(scope="module")
def first(landing, tmp_path_factory):
    """The 60 days built once by the CLI on a terminal: (exit status, output, lake, work)."""
    work = tmp_path_factory.mktemp("built")
    env = cli_environment(work / "lake", landing, work / "logs")
    code, shown = run_on_a_terminal(backfill_argv(START, END), env, work)
    return code, shown, work / "lake", work


@pytest.fixture
def copy_of_the_lake(first, tmp_path):
    shutil.copytree(first[2], tmp_path / "lake")
    return tmp_path / "lake"


# --------------------------------------------------------------------------
# windows
# --------------------------------------------------------------------------

def test_windows_are_calendar_months_in_date_order():
    tasks = [cls(date=day) for day in reversed(DAYS) for cls in (GoldSO, GoldSOMTD)]

    found = windows.split(tasks)

    assert [months({t.date for t in window}) for window in found] == [[m] for m in months(DAYS)]
    assert sum(len(window) for window in found) == len(tasks)


def test_a_month_longer_than_the_window_size_is_split_evenly():
    january = [dt.date(2026, 1, day) for day in range(1, 32)]
    found = windows.split([GoldSO(date=day) for day in january], size=8)
    assert [len(window) for window in found] == [8, 8, 8, 7]
    assert [t.date for window in found for t in window] == january


def test_tasks_without_a_date_are_one_window():
    class Plain(luigi.Task):
        number = luigi.IntParameter()

    tasks = [Plain(number=n) for n in range(3)]
    assert windows.split(tasks) == [tasks]


# --------------------------------------------------------------------------
# a cold backfill of three months
# --------------------------------------------------------------------------

def test_a_three_month_backfill_builds_every_date_exactly_once(first):
    code, shown, lake, _ = first
    assert code == 0, shown
    (record,) = run_records(lake)
    assert record["status"] == "success"
    claimed = built(record)
    assert [item for item, n in Counter(claimed).items() if n > 1] == []
    assert set(claimed) == everything(DAYS)
    assert record["tasks_run"] == len(DAYS) * len(STEPS)


def test_each_month_is_built_before_the_next_begins(first):
    """Windows run in date order: every output of a month is older than any of the next."""
    lake = first[2]
    by_month = {month: [t for day in DAYS if (day.year, day.month) == month
                        for t in written_at(lake, day)] for month in months(DAYS)}
    ordered = list(by_month.values())
    for earlier, later in zip(ordered, ordered[1:]):
        assert max(earlier) <= min(later)


def test_luigi_ran_once_per_month(first):
    log = (first[3] / "logs" / "so" / f"so-{END.isoformat()}.log").read_text()
    # luigi frames each build's summary with two of these lines
    assert log.count("===== Luigi Execution Summary =====") == 2 * len(months(DAYS))


def test_one_progress_bar_counts_every_date_of_every_window(first):
    code, shown, _, _ = first
    counts = progress_counts(shown)
    assert counts and {total for _, total in counts} == {len(DAYS)}, shown[-2000:]
    done = [n for n, _ in counts]
    assert done == sorted(done) and done[-1] == len(DAYS)


# --------------------------------------------------------------------------
# reruns
# --------------------------------------------------------------------------

def test_a_rerun_is_decided_from_the_listings_without_starting_luigi(copy_of_the_lake, landing,
                                                                     monkeypatch):
    def no_luigi(*args, **kwargs):
        raise AssertionError("luigi.build was called")

    monkeypatch.setattr(luigi, "build", no_luigi)
    tasks = [cls(date=day, **roots(copy_of_the_lake, landing))
             for day in DAYS for cls in (GoldSO, GoldSOMTD)]

    outcome = runner.build(tasks)

    assert outcome.result is None and outcome.windows == 0
    assert outcome.ran == [] and not outcome.failures and not outcome.missing
    assert outcome.context.listing_count == 2  # one per gold table, whatever the dates


def test_a_rerun_builds_only_the_window_of_a_lost_date_and_counts_every_date(copy_of_the_lake,
                                                                             landing, tmp_path):
    lost = dt.date(2026, 3, 1)
    shutil.rmtree(copy_of_the_lake / "gold" / "so_daily_sales" / partition(lost))
    env = cli_environment(copy_of_the_lake, landing, tmp_path / "logs")

    code, shown = run_on_a_terminal(backfill_argv(START, END), env, tmp_path)

    assert code == 0, shown
    assert built(run_records(copy_of_the_lake)[-1]) == [("gold:so_daily_sales", lost.isoformat())]
    assert progress_counts(shown)[-1] == (len(DAYS), len(DAYS)), shown[-2000:]
    log = (tmp_path / "logs" / "so" / f"so-{END.isoformat()}.log").read_text()
    assert log.count("===== Luigi Execution Summary =====") == 2  # January and February: no luigi


# --------------------------------------------------------------------------
# a failure in the second window
# --------------------------------------------------------------------------

BROKEN = dt.date(2026, 2, 3)


def outputs_of(lake: Path, *days: dt.date):
    """The partition folders holding every output of ``days``."""
    return sorted({(lake / path).parent for day in days for path in contract_paths(day).values()})


@pytest.fixture(scope="module")
def failed(first, landing, tmp_path_factory):
    """The built lake without Feb 3, Feb 4 and Mar 1; Feb 3's new file lacks its Qty column.

    Rebuilding all 60 dates then needs nothing of January (skipped), Feb 3
    and Feb 4 of the second window (Feb 3 fails), Mar 1 of the third.
    """
    work = tmp_path_factory.mktemp("failed")
    lake, broken = work / "lake", work / "landing"
    shutil.copytree(first[2], lake)
    shutil.copytree(landing, broken)
    for folder in outputs_of(lake, BROKEN, BROKEN + dt.timedelta(days=1), END):
        shutil.rmtree(folder)
    name = landing_name(BROKEN)
    drop_column(landing / "so" / name, broken / "so" / name, "Qty")
    env = cli_environment(lake, broken, work / "logs")
    done = run_command(backfill_argv(START, END), env=env, cwd=work, timeout=180)
    return done, lake


def test_a_failure_in_the_second_window_exits_5_naming_the_file(failed):
    done, _ = failed
    assert done.returncode == 5, explain(done)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and landing_name(BROKEN) in errors[0], explain(done)


def test_a_failure_in_the_second_window_stops_before_the_third(failed):
    done, lake = failed
    feb_4 = contract_paths(BROKEN + dt.timedelta(days=1))
    assert (lake / feb_4["daily"]).is_file()  # the rest of the failing window is built
    assert not (lake / feb_4["mtd"]).exists()  # it needs Feb 3
    assert not (lake / "bronze" / "so" / partition(END)).exists()  # the third: not attempted
    record = run_records(lake)[-1]
    assert built(record) == [("bronze", "2026-02-03"), ("bronze", "2026-02-04"),
                             ("silver", "2026-02-04"), ("gold:so_daily_sales", "2026-02-04")]
    assert record["dates_not_attempted"] == [END.isoformat()]


# --------------------------------------------------------------------------
# two backfills on one luigid
# --------------------------------------------------------------------------

@pytest.mark.luigid
def test_two_backfills_on_one_luigid_build_each_task_once_across_windows(luigid, landing,
                                                                         copy_of_the_lake,
                                                                         tmp_path):
    """Both start together on a lake lacking Jan 29 - Feb 3: two windows, shared work."""
    host, port = luigid
    days = [dt.date(2026, 1, 29) + dt.timedelta(days=k) for k in range(6)]
    for folder in outputs_of(copy_of_the_lake, *days):
        shutil.rmtree(folder)
    argv = backfill_argv(days[0], days[-1], "--scheduler-host", host, "--scheduler-port", str(port))
    processes = [subprocess.Popen(argv, env=cli_environment(copy_of_the_lake, landing,
                                                            tmp_path / f"logs-{n}"),
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n in range(2)]
    outputs = [process.communicate(timeout=170) for process in processes]

    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, explain(process, out, err)
    records = run_records(copy_of_the_lake)[1:]  # the first is the cold build's
    assert len(records) == 2
    claimed = [item for record in records for item in built(record)]
    assert [item for item, n in Counter(claimed).items() if n > 1] == []
    assert set(claimed) == everything(days)
    failed = luigid.api("task_list", status="FAILED", upstream_status="")
    assert failed == {}, json.dumps(failed)[:2000]
