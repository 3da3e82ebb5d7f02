"""Backfills: any range, only the missing dates, as cron and people run them.

Issue 4, item 2. Everything here runs the real commands as subprocesses,
with the repository's ``luigi.cfg`` (``LUIGI_CONFIG_PATH``) and the roots
in ``ETL_*`` variables:

* ``python -m etl_targets so --start D1 --end D2`` (``--end`` included)
  builds every missing date of the range -- there is no ``days_back``-style
  cut-off, so a range that started more than 100 days ago works -- and a
  rerun builds nothing;
* ``luigi --module etl_targets RangeDaily --of GoldSO --start D1 --stop D2``
  (``--stop`` excluded: Luigi's own range tool) builds every date of the range
  and answers a rerun from ``GoldSO.bulk_complete`` (one listing, no HEAD
  per date on S3);
* ``--dry-run`` says what would be built and writes nothing.

The data are generated (``etl_targets.datasets.samples.so.generate``): 40 days from
2026-01-01 to 2026-02-09, two months, all more than 100 days before today.
"""

import datetime as dt
import json
import re
import shutil
import urllib.parse
from pathlib import Path

import pytest

from etl_targets.datasets.samples import so as sample

from support.cli import etl_argv, explain, luigi_argv, run_command
from support.env import cli_environment
from support.lakes import GOLD_TABLES, contract_paths, partition, run_records
from support.landing import landing_name
from support.s3 import listings
from support.terminal import run_on_a_terminal

START = dt.date(2026, 1, 1)
DAYS = 40
ROWS = 25
#: tiny days: one bad row would already trip silver's 5% reject-ratio gate
CLEAN = sample.Messiness(invalid=0.0)
ALL_DAYS = [START + dt.timedelta(days=k) for k in range(DAYS)]
END = ALL_DAYS[-1]  # 2026-02-09
STEPS = ("bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def outputs_of(lake: Path, day: dt.date):
    """Every file the contract says a fully built date has: bronze (2), silver (2), gold (2)."""
    return [lake / path for path in contract_paths(day).values()]


def data_files(lake: Path):
    """path -> (mtime_ns, size) of every file outside ``_ops`` (run records change on every run)."""
    return {p.relative_to(lake).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(lake.rglob("*")) if p.is_file() and p.relative_to(lake).parts[0] != "_ops"}


def all_files(root: Path):
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(root.rglob("*")) if p.is_file()}


def etl(*args, env, cwd):
    """``python -m etl_targets ...`` the way cron runs it (stdout is not a TTY)."""
    return run_command(etl_argv(*args), env=env, cwd=cwd, timeout=180)


def luigi_cmd(*args, env, cwd):
    return run_command(luigi_argv(*args, "--local-scheduler"), env=env, cwd=cwd, timeout=180)


def backfill(start, end, *extra, env, cwd):
    return etl("so", "--start", start.isoformat(), "--end", end.isoformat(), *extra, env=env, cwd=cwd)


def built(record):
    """``{(step, date)}`` that a run record says the run built."""
    return {(stage["step"], stage["date"]) for stage in record["stages"]}


def everything(days):
    return {(step, day.isoformat()) for step in STEPS for day in days}


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generated_landing(tmp_path_factory) -> Path:
    """40 generated landing days over two months (read only)."""
    landing = tmp_path_factory.mktemp("generated") / "landing"
    sample.generate(START, DAYS, ROWS, landing, seed=20260101, mess=CLEAN)
    return landing


@pytest.fixture(scope="module")
def built_lake(generated_landing, tmp_path_factory) -> Path:
    """The 40 days built once by the CLI (read only: tests copy it)."""
    work = tmp_path_factory.mktemp("built")
    lake = work / "lake"
    done = backfill(START, END, env=cli_environment(lake, generated_landing, work / "logs"), cwd=work)
    assert done.returncode == 0, explain(done)
    return lake


@pytest.fixture
def work(tmp_path, generated_landing):
    """A fresh lake (``work.lake``), logs, and the env/cwd to run commands with."""

    class Work:
        lake = tmp_path / "lake"
        landing = generated_landing
        cwd = tmp_path
        env = cli_environment(tmp_path / "lake", generated_landing, tmp_path / "logs")

    return Work


@pytest.fixture
def copy_of_built_lake(work, built_lake):
    """``work.lake`` starts as a copy (mtimes kept) of the fully built 40 days."""
    shutil.copytree(built_lake, work.lake)
    return work


# --------------------------------------------------------------------------
# etl-targets so --start --end
# --------------------------------------------------------------------------

def test_the_range_is_older_than_luigis_days_back():
    """Precondition of the tests below: the whole range is more than 100 days old."""
    assert (dt.date.today() - END).days > 100
    assert {d.month for d in ALL_DAYS} == {1, 2}


def test_backfill_of_an_old_two_month_range_builds_every_date(built_lake):
    missing = [str(path) for day in ALL_DAYS for path in outputs_of(built_lake, day)
               if not path.is_file()]
    assert missing == []
    (record,) = run_records(built_lake)
    assert record["status"] == "success"
    assert record["tasks_run"] == DAYS * len(STEPS)
    assert built(record) == everything(ALL_DAYS)


def test_each_date_of_a_backfill_gets_a_manifest_of_that_date_alone(built_lake):
    """Manifests stay the size of one date, however long the backfill (no run-wide lists)."""
    (record,) = run_records(built_lake)
    for day in (ALL_DAYS[0], ALL_DAYS[-1]):
        iso = day.isoformat()
        manifest = json.loads((built_lake / "_ops" / "manifests" / "so" / f"so-{iso}.json")
                              .read_text())
        assert manifest["run_id"] == record["run_id"] and manifest["dates"] == [iso]
        assert {stage["date"] for stage in manifest["stages"]} == {iso}
        assert [entry["date"] for entry in manifest["inputs"]] == [iso]
        assert manifest["outputs"] and all(f"date={iso}" in path for path in manifest["outputs"])
        assert manifest["dates_built"] == [iso] and manifest["earlier_dates"] == []


def test_rerun_of_a_backfill_builds_nothing(copy_of_built_lake):
    work = copy_of_built_lake
    before = data_files(work.lake)

    done = backfill(START, END, env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    assert "already complete" in done.stdout
    assert data_files(work.lake) == before
    record = run_records(work.lake)[-1]
    assert record["tasks_run"] == 0 and record["stages"] == []
    assert record["already_complete"] is True


def test_rerun_after_deleting_some_dates_builds_exactly_those(copy_of_built_lake):
    work = copy_of_built_lake
    # One in January, the first and the last of February.
    victims = [dt.date(2026, 1, 17), dt.date(2026, 2, 1), END]
    for day in victims:
        for folder in ("silver/so", "silver/so_rejects", *(f"gold/{t}" for t in GOLD_TABLES)):
            shutil.rmtree(work.lake / folder / partition(day))
    before = data_files(work.lake)

    done = backfill(START, END, env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    record = run_records(work.lake)[-1]
    assert built(record) == {(step, day.isoformat()) for step in STEPS[1:] for day in victims}
    assert record["tasks_run"] == len(victims) * 3  # silver, daily and month-to-date gold
    after = data_files(work.lake)
    assert {path: after[path] for path in before} == before  # nothing else was rewritten
    assert sorted(set(after) - set(before)) == sorted(
        path.relative_to(work.lake).as_posix() for day in victims for path in outputs_of(work.lake, day)[2:])


def test_backfill_of_a_partly_built_range_builds_only_the_new_dates(copy_of_built_lake, tmp_path):
    """The nightly catch-up: a few new landing files after the range already built."""
    work = copy_of_built_lake
    landing = tmp_path / "landing"
    shutil.copytree(work.landing, landing)
    sample.generate(END + dt.timedelta(days=1), 3, ROWS, tmp_path / "more", seed=7, mess=CLEAN)
    for path in (tmp_path / "more" / "so").iterdir():
        shutil.copy(path, landing / "so" / path.name)
    new = [END + dt.timedelta(days=k) for k in (1, 2, 3)]
    before = data_files(work.lake)

    done = backfill(START, new[-1], env={**work.env, "ETL_LANDING_ROOT": str(landing)}, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    assert built(run_records(work.lake)[-1]) == everything(new)
    after = data_files(work.lake)
    assert {path: after[path] for path in before} == before


def test_backfill_reports_one_summary_line_when_not_on_a_terminal(copy_of_built_lake):
    """No progress bar escape codes in a cron log: the stage lines and one end line."""
    work = copy_of_built_lake
    shutil.rmtree(work.lake / "gold" / "so_daily_sales" / partition(ALL_DAYS[3]))

    done = backfill(START, END, env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    assert "\r" not in done.stdout + done.stderr
    end_lines = [line for line in done.stdout.splitlines() if line.startswith("== SUCCESS")]
    assert len(end_lines) == 1


def test_backfill_on_a_terminal_shows_a_progress_bar(copy_of_built_lake):
    work = copy_of_built_lake
    for day in ALL_DAYS[-5:]:
        shutil.rmtree(work.lake / "gold" / "so_daily_sales" / partition(day))

    code, shown = run_on_a_terminal(
        etl_argv("so", "--start", START.isoformat(), "--end", END.isoformat()), work.env, work.cwd)

    assert code == 0, shown
    assert f"{DAYS}/{DAYS} dates" in shown, shown
    assert "ETA" in shown


# --------------------------------------------------------------------------
# --dry-run
# --------------------------------------------------------------------------

def mentioned_dates(text: str):
    """Every date named in ``text``, with ``A..B`` ranges expanded."""
    found = set()
    for first, last in re.findall(r"(\d{4}-\d{2}-\d{2})(?:\s*\.\.\s*(\d{4}-\d{2}-\d{2}))?", text):
        a = dt.date.fromisoformat(first)
        b = dt.date.fromisoformat(last) if last else a
        found.update(a + dt.timedelta(days=k) for k in range((b - a).days + 1))
    return found


def after_banner(stdout: str) -> str:
    """The console output after the start banner (which names the requested range)."""
    lines = stdout.splitlines()
    mode = next(i for i, line in enumerate(lines) if line.strip().startswith("mode"))
    return "\n".join(lines[mode + 1:])


@pytest.fixture
def partly_built(copy_of_built_lake, tmp_path):
    """Built: the 40 days except silver+gold of 2026-01-20. Landing: 3 more days, not built."""
    work = copy_of_built_lake
    landing = tmp_path / "landing"
    shutil.copytree(work.landing, landing)
    sample.generate(END + dt.timedelta(days=1), 3, ROWS, tmp_path / "more", seed=7, mess=CLEAN)
    for path in (tmp_path / "more" / "so").iterdir():
        shutil.copy(path, landing / "so" / path.name)
    gap = dt.date(2026, 1, 20)
    for folder in ("silver/so", "silver/so_rejects", *(f"gold/{t}" for t in GOLD_TABLES)):
        shutil.rmtree(work.lake / folder / partition(gap))
    work.env = {**work.env, "ETL_LANDING_ROOT": str(landing)}
    work.gap = gap
    work.new = [END + dt.timedelta(days=k) for k in (1, 2, 3)]
    return work


def test_dry_run_backfill_writes_nothing(partly_built):
    work = partly_built
    lake_before = all_files(work.lake)

    done = backfill(START, work.new[-1], "--dry-run", env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    assert all_files(work.lake) == lake_before  # not even a run record
    assert "DRY RUN" in done.stdout


def test_dry_run_backfill_lists_the_dates_it_would_build(partly_built):
    work = partly_built
    done = backfill(START, work.new[-1], "--dry-run", env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    listed = mentioned_dates(after_banner(done.stdout))
    assert listed == {work.gap, *work.new}, sorted(listed)


def test_dry_run_backfill_names_the_landing_files_it_would_read(partly_built):
    work = partly_built
    done = backfill(START, work.new[-1], "--dry-run", env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    for day in work.new:
        assert landing_name(day) in done.stdout


# --------------------------------------------------------------------------
# luigi --module etl_targets RangeDaily --of GoldSO
# --------------------------------------------------------------------------

def test_range_daily_builds_every_date_of_an_old_range(work):
    stop = END + dt.timedelta(days=1)  # --stop is excluded: [2026-01-01, 2026-02-10)

    done = luigi_cmd("RangeDaily", "--of", "GoldSO", "--start", START.isoformat(),
                     "--stop", stop.isoformat(), env=work.env, cwd=work.cwd)

    assert done.returncode == 0, explain(done)
    daily = work.lake / "gold" / "so_daily_sales"
    assert sorted(p.name for p in daily.iterdir()) == [partition(d) for d in ALL_DAYS]
    assert not (work.lake / "gold" / "so_mtd_by_region").exists()  # only what was asked

    before = all_files(work.lake)
    again = luigi_cmd("RangeDaily", "--of", "GoldSO", "--start", START.isoformat(),
                      "--stop", stop.isoformat(), env=work.env, cwd=work.cwd)
    assert again.returncode == 0, explain(again)
    assert all_files(work.lake) == before


def test_range_daily_over_more_than_fifty_dates_builds_every_date(tmp_path):
    days = 60
    landing = tmp_path / "landing"
    sample.generate(START, days, 5, landing, seed=11, mess=CLEAN)
    env = cli_environment(tmp_path / "lake", landing, tmp_path / "logs")
    stop = START + dt.timedelta(days=days)

    done = luigi_cmd("RangeDaily", "--of", "GoldSO", "--start", START.isoformat(),
                     "--stop", stop.isoformat(), env=env, cwd=tmp_path)

    assert done.returncode == 0, explain(done)
    assert len(list((tmp_path / "lake" / "gold" / "so_daily_sales").iterdir())) == days


@pytest.mark.s3
def test_range_daily_rerun_on_s3_is_answered_by_one_listing(s3_env, s3_requests, tmp_path,
                                                           generated_landing):
    """The rerun costs one ListObjectsV2 of the gold prefix: bulk_complete, not a HEAD per date."""
    env = cli_environment(f"s3://{s3_env}/lake", generated_landing, tmp_path / "logs")
    days = ALL_DAYS[:12]
    stop = days[-1] + dt.timedelta(days=1)
    args = ("RangeDaily", "--of", "GoldSO", "--start", START.isoformat(), "--stop", stop.isoformat())

    first = luigi_cmd(*args, env=env, cwd=tmp_path)
    assert first.returncode == 0, explain(first)

    s3_requests.mark()
    again = luigi_cmd(*args, env=env, cwd=tmp_path)
    requests = s3_requests()

    assert again.returncode == 0, explain(again)
    assert s3_requests.writes() == []
    assert [path for method, path in requests if method == "HEAD"] == []
    lists = listings(requests)
    assert len(lists) == 1 and "/gold/so_daily_sales" in urllib.parse.unquote(lists[0]), requests
    assert len(requests) == 1, requests
