"""Two lakes, one ``luigid``: the roots are part of every task's identity.

With the roots left to the configuration (``ETL_LAKE_ROOT``), the plain
``luigi`` command used to give ``GoldSO(date=D)`` the same task id for every
lake, so a second lake's build was taken for the first one's and left empty.
"""

from __future__ import annotations

import os
import subprocess

import pyarrow.parquet as pq
import pytest

from support.cli import explain, luigi_argv
from support.paths import REPO

pytestmark = pytest.mark.luigid

DAY = "2026-01-27"
GOLD = ("gold", "so_daily_sales", f"date={DAY}", "data.parquet")


def start_build(luigid, lake, landing):
    host, port = luigid
    env = dict(os.environ, ETL_LAKE_ROOT=str(lake), ETL_LANDING_ROOT=str(landing))
    return subprocess.Popen(
        luigi_argv("GoldSO", "--date", DAY, "--scheduler-host", host, "--scheduler-port", str(port)),
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def two_builds_at_once(luigid, tmp_path, sample_landing):
    lakes = [tmp_path / "a", tmp_path / "b"]
    processes = [start_build(luigid, lake, sample_landing) for lake in lakes]
    finished = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        finished.append((process, stdout, stderr))
    return lakes, finished


def test_two_lakes_building_the_same_date_on_one_luigid_both_succeed(two_builds_at_once):
    _, finished = two_builds_at_once
    for process, stdout, stderr in finished:
        assert process.returncode == 0, explain(process, stdout, stderr)


def test_each_of_two_lakes_on_one_luigid_gets_its_own_gold(two_builds_at_once):
    (a, b), _ = two_builds_at_once
    first, second = pq.read_table(a.joinpath(*GOLD)), pq.read_table(b.joinpath(*GOLD))
    assert first.num_rows > 0
    assert first.equals(second)


def test_luigid_knows_two_gold_tasks_for_two_lakes(two_builds_at_once, luigid):
    done = luigid.api("task_list", status="DONE")
    assert len([t for t in done.values() if t["name"] == "GoldSO"]) == 2
