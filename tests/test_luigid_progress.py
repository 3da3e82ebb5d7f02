"""While a big day builds, luigid's web view shows how far each running task got.

Silver reports the rows parsed so far and a percentage as it streams the
file's blocks (bronze the bytes copied, month-to-date gold the days read),
through luigi's ``set_status_message`` / ``set_progress_percentage``; the
witness is luigid's own ``/api/task_list``, which its web view reads.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path

import pytest

from support.cli import etl_argv, explain
from support.env import cli_environment
from support.landing import copy_landing, landing_name
from support.paths import SAMPLE_LANDING

pytestmark = pytest.mark.luigid

DAY = dt.date(2026, 1, 27)
COPIES = 1500  # ~450,000 rows: a few seconds of silver


def big_day(landing: Path) -> None:
    copy_landing(landing, *(DAY.replace(day=d) for d in range(1, DAY.day)))
    header, _, body = (SAMPLE_LANDING / "so" / landing_name(DAY)).read_bytes().partition(b"\n")
    with open(landing / "so" / landing_name(DAY), "wb") as out:
        out.write(header + b"\n" + body * COPIES)


def test_running_silver_shows_rows_parsed_and_a_percentage_in_luigid(tmp_path, luigid):
    (tmp_path / "landing" / "so").mkdir(parents=True)
    big_day(tmp_path / "landing")
    env = cli_environment(tmp_path / "lake", tmp_path / "landing", tmp_path / "logs")
    run = subprocess.Popen(etl_argv("so", "--date", DAY.isoformat(), "--scheduler-host",
                                    luigid.host, "--scheduler-port", str(luigid.port)),
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    seen = []
    try:
        deadline = time.monotonic() + 240
        while run.poll() is None and time.monotonic() < deadline:
            for task in luigid.api("task_list", status="RUNNING").values():
                if task["name"] == "SilverSO" and task.get("status_message"):
                    seen.append((task["status_message"], task.get("progress_percentage")))
            time.sleep(0.2)
    finally:
        stdout, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, explain(run, stdout, stderr)
    assert any("rows parsed" in message and (percent or 0) > 0 for message, percent in seen), seen
