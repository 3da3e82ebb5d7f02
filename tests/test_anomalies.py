"""Volume anomalies: a landed row count out of line with bronze's history is a warning.

The rule is a robust score against the same weekday (or the trailing 28
days) with a floor for steady series; a zero-row day always counts.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from etl_targets.runs.anomalies import judge, judge_all
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing, landing_name

START = dt.date(2026, 1, 1)


def generated_month(seed: int = 3) -> dict:
    """60 days of counts with a weekly rhythm: busy weekdays, quiet weekends, some noise."""
    rng = random.Random(seed)
    counts = {}
    for k in range(60):
        day = START + dt.timedelta(days=k)
        base = 1000 if day.weekday() < 5 else 250
        counts[day] = int(base * rng.uniform(0.85, 1.15))
    return counts


def flagged(counts: dict) -> set:
    return {a.date for a in judge_all(counts, lambda day: None)}


def test_ordinary_weekday_variation_is_not_flagged():
    assert flagged(generated_month()) == set()


def test_a_zero_row_day_is_flagged():
    counts = generated_month()
    zero = START + dt.timedelta(days=40)
    counts[zero] = 0
    assert zero in flagged(counts)


def test_a_tenfold_spike_is_flagged():
    counts = generated_month()
    spike = START + dt.timedelta(days=45)
    counts[spike] *= 10
    assert flagged(counts) == {spike}


def test_a_zero_row_day_counts_even_without_history():
    assert judge(START, 0, {}) is not None


def test_too_little_history_is_no_verdict():
    assert judge(START + dt.timedelta(days=3), 5000, {START: 10}) is None


def test_a_perfectly_steady_series_tolerates_small_changes_but_not_big_ones():
    steady = {START + dt.timedelta(days=k): 500 for k in range(30)}
    day = START + dt.timedelta(days=30)
    assert judge(day, 510, steady) is None
    assert judge(day, 900, steady) is not None


# -- through the CLI ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def month_with_an_empty_day(tmp_path_factory):
    """January 1..15 from the sample, but the 15th's file has a header and no rows."""
    root = tmp_path_factory.mktemp("anomaly")
    days = [dt.date(2026, 1, d) for d in range(1, 16)]
    (root / "landing" / "so").mkdir(parents=True)
    copy_landing(root / "landing", *days)
    empty = root / "landing" / "so" / landing_name(days[-1])
    empty.write_bytes(empty.read_bytes().split(b"\n", 1)[0] + b"\n")
    env = cli_environment(root / "lake", root / "landing", root / "logs")

    def run(*args: str) -> Run:
        return Run.of(run_command(etl_argv(*args), cwd=root, env=env))

    built = run("so", "--start", "2026-01-01", "--end", "2026-01-14")
    assert built.code == 0, str(built)
    return root, run


def test_an_anomaly_is_a_warning_line_and_the_run_still_succeeds(month_with_an_empty_day):
    root, run = month_with_an_empty_day
    done = run("so", "--date", "2026-01-15", "--dry-run")
    assert done.code == 0, str(done)
    assert "warning: volume anomaly in so 2026-01-15: 0 rows landed" in done.stdout, str(done)


def test_fail_on_anomaly_exits_9_and_the_manifest_and_marker_record_it(month_with_an_empty_day):
    root, run = month_with_an_empty_day
    done = run("so", "--date", "2026-01-15", "--fail-on-anomaly")
    assert done.code == 9, str(done)
    manifest = json.loads((root / "lake" / "_ops" / "manifests" / "so" /
                           "so-2026-01-15.json").read_text())
    assert manifest["anomaly"]["rows"] == 0
    marker = root / "lake" / "_ops" / "anomalies" / "so" / "date=2026-01-15.json"
    assert json.loads(marker.read_text())["date"] == "2026-01-15"
    status = run("status", "so", "--start", "2026-01-01", "--end", "2026-01-15")
    assert "  2026-01-15  anomaly: 0 rows landed" in status.stdout, str(status)
