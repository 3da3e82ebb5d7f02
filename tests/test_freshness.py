"""``etl-targets freshness`` judges the published data, not the last successful run.

The newest *complete* date of a dataset is the newest date whose gold
tables are all published; a dataset is stale when that date is before the
expected one (``--expect``, ``--max-lag``, by default yesterday), when it
ended longer ago than ``--max-age``, or when the dataset's last run failed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from support.cli import Run, etl_argv, luigi_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing

JAN_1, JAN_2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)


class Lake:
    """A landing area with some January days, a lake, logs and a working directory."""

    def __init__(self, root, *days):
        self.landing, self.lake, self.logs, self.cwd = (root / n for n in
                                                        ("landing", "lake", "logs", "cwd"))
        (self.landing / "so").mkdir(parents=True)
        self.cwd.mkdir()
        copy_landing(self.landing, *days)

    def run(self, argv) -> Run:
        env = cli_environment(self.lake, self.landing, self.logs)
        return Run.of(run_command(argv, cwd=self.cwd, env=env))

    def etl(self, *args: str) -> Run:
        return self.run(etl_argv(*args))


@pytest.fixture
def jan_1_built(tmp_path) -> Lake:
    lake = Lake(tmp_path, JAN_1)
    assert lake.etl("so", "--date", "2026-01-01").code == 0
    return lake


def test_freshness_is_ok_when_the_expected_date_is_complete(jan_1_built):
    run = jan_1_built.etl("freshness", "--dataset", "so", "--expect", "2026-01-01")
    assert run.code == 0, str(run)
    assert "so: OK: newest complete date 2026-01-01" in run.stdout, str(run)


def test_freshness_is_stale_when_the_expected_date_is_not_complete(jan_1_built):
    run = jan_1_built.etl("freshness", "--dataset", "so", "--expect", "2026-01-02")
    assert run.code == 7, str(run)
    assert "STALE" in run.stdout and "2026-01-01" in run.stdout, str(run)


def test_freshness_expects_yesterday_by_default(jan_1_built):
    run = jan_1_built.etl("freshness", "--dataset", "so")
    assert run.code == 7, str(run)  # 2026-01-01 is long before yesterday


def test_freshness_max_lag_counts_days_back_from_today(jan_1_built):
    days = (dt.date.today() - JAN_1).days
    assert jan_1_built.etl("freshness", "--dataset", "so", "--max-lag", f"{days + 1}d").code == 0
    assert jan_1_built.etl("freshness", "--dataset", "so", "--max-lag", "1d").code == 7


def test_freshness_max_age_measures_from_the_end_of_the_newest_date(jan_1_built):
    assert jan_1_built.etl("freshness", "--dataset", "so", "--max-age", "0s").code == 7
    assert jan_1_built.etl("freshness", "--dataset", "so", "--max-age", "36500d").code == 0


def test_a_failed_night_then_a_rerun_of_an_old_date_is_stale(jan_1_built):
    assert jan_1_built.etl("so", "--date", "2026-01-02").code == 4  # tonight: no file
    assert jan_1_built.etl("so", "--date", "2026-01-01").code == 0  # an old date, rerun
    run = jan_1_built.etl("freshness", "--dataset", "so", "--expect", "2026-01-02")
    assert run.code == 7, str(run)
    assert "newest complete date 2026-01-01" in run.stdout, str(run)


def test_the_last_run_failing_makes_a_dataset_stale_and_is_named(jan_1_built):
    failed = jan_1_built.etl("so", "--date", "2026-01-02")
    assert failed.code == 4
    run = jan_1_built.etl("freshness", "--dataset", "so", "--expect", "2026-01-01")
    assert run.code == 7, str(run)
    assert "failed" in run.stdout and "zheSO-2026-1-2.csv" in run.stdout, str(run)


def test_freshness_judges_a_lake_built_with_the_luigi_command(tmp_path):
    lake = Lake(tmp_path, JAN_1, JAN_2)
    built = lake.run(luigi_argv("GoldSOMTD", "--date", "2026-01-02", "--local-scheduler"))
    assert built.code == 0, str(built)
    built = lake.run(luigi_argv("GoldSO", "--date", "2026-01-02", "--local-scheduler"))
    assert built.code == 0, str(built)
    run = lake.etl("freshness", "--dataset", "so", "--expect", "2026-01-02")
    assert run.code == 0, str(run)
    assert "newest complete date 2026-01-02" in run.stdout and "no run records" in run.stdout


def test_freshness_with_nothing_published_is_stale(tmp_path):
    run = Lake(tmp_path).etl("freshness", "--dataset", "so")
    assert run.code == 7, str(run)
    assert "no complete date published" in run.stdout, str(run)
