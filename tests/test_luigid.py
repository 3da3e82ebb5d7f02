"""The graph under a real central scheduler: a ``luigid`` subprocess.

The scheduler's JSON API (``/api/task_list?data={"status": "DONE"}``, as
luigi's web UI calls it) is the witness: a task it lists as DONE was
reported done by a worker that talked to it over HTTP.
"""

from __future__ import annotations

import datetime as dt

import pytest
from luigi.execution_summary import LuigiStatusCode

from etl_targets import GoldSO

from support.cli import luigi_argv, run_command
from support.paths import REPO

pytestmark = pytest.mark.luigid

DAY = dt.date(2026, 1, 27)


def done_tasks(luigid) -> dict:
    """task_id -> task, for every task luigid lists as DONE."""
    return luigid.api("task_list", status="DONE")


def test_luigid_answers_with_no_task_before_any_build(luigid):
    assert done_tasks(luigid) == {}


def test_build_through_luigid_succeeds(luigid, tmp_lake, sample_landing, luigi_build):
    host, port = luigid
    run = luigi_build([GoldSO(date=DAY, lake_root=str(tmp_lake), landing_root=str(sample_landing))],
                      scheduler_host=host, scheduler_port=port)
    assert run.status == LuigiStatusCode.SUCCESS, run.result.summary_text
    assert run.ran_names() == ["BronzeSO(2026-01-27)", "GoldSO(2026-01-27)", "SilverSO(2026-01-27)"]


def test_luigid_lists_every_task_of_the_build_as_done(luigid, tmp_lake, sample_landing,
                                                     luigi_build):
    host, port = luigid
    task = GoldSO(date=DAY, lake_root=str(tmp_lake), landing_root=str(sample_landing))
    luigi_build([task], scheduler_host=host, scheduler_port=port)
    done = done_tasks(luigid)
    assert done[task.task_id]["name"] == "GoldSO"
    assert sorted(t["display_name"].split(",")[0] for t in done.values()) == [
        "BronzeSO(date=2026-01-27", "GoldSO(date=2026-01-27", "LandingSO(date=2026-01-27",
        "SilverSO(date=2026-01-27"]


def test_luigi_command_with_scheduler_host_reports_to_luigid(luigid, tmp_landing, tmp_lake,
                                                            landing_copier):
    host, port = luigid
    landing_copier(tmp_landing, DAY)
    done = run_command(luigi_argv("GoldSO", "--date", DAY.isoformat(), "--scheduler-host", host,
                                  "--scheduler-port", str(port)), cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [t["name"] for t in done_tasks(luigid).values() if t["name"] == "GoldSO"] == ["GoldSO"]
