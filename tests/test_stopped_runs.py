"""A run told to stop is a failed run, recorded and alerted like any other.

Kubernetes (a deadline, an eviction), systemd and ``timeout`` send SIGTERM and
wait before they kill; an operator presses Ctrl-C (SIGINT). Either way the
run exits 128 + the signal (143, 130) with one line saying so, leaves a run
record with status failure, a ``failures.log`` line and the alert, and
publishes nothing it had not finished; the next run builds the rest.

The run is stopped while it waits for the loopback rates API, which is
told to answer slowly: the stop always arrives in the middle of a build.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from pathlib import Path

import pytest

from support.cli import etl_argv, explain, run_command
from support.env import cli_environment
from support.lakes import run_records
from support.landing import copy_landing
from support.rates_server import TEST_TOKEN

D = dt.date(2026, 1, 27)
ISO = D.isoformat()
CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


def environment(root: Path, api) -> dict:
    alert = root / "alert.txt"
    return cli_environment(root / "lake", root / "landing", root / "logs",
                           ETL_FX_API_URL=api.url, ETL_FX_TOKEN=TEST_TOKEN,
                           ETL_ALERT_CMD=f'printf "%s\\n" "$ETL_FAILURE_LINE" > {alert}')


def stopped_run(root: Path, api, signum: int):
    """``etl-targets fx --date D`` stopped by ``signum`` while the rates API keeps it waiting."""
    copy_landing(root / "landing", D)
    api.slow(60, times=1, page=1)
    process = subprocess.Popen(etl_argv("fx", "--date", ISO), cwd=root,
                               env=environment(root, api), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not api.requests and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.requests, "the run never asked the rates API"
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process, out, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_exits_128_plus_the_signal_with_one_line_saying_so(rates_api, tmp_path,
                                                                          signum):
    process, out, err = stopped_run(tmp_path, rates_api, signum)
    assert process.returncode == CODES[signum], explain(process, out, err)
    name = signal.Signals(signum).name
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert line == (f"error: stopped by {name} before the build finished: what was not "
                    f"finished is not published; rerun to finish")
    assert "Traceback" not in out + err


def test_a_stopped_run_is_recorded_as_failed_logged_and_alerted(rates_api, tmp_path):
    process, out, err = stopped_run(tmp_path, rates_api, signal.SIGTERM)
    [record] = run_records(tmp_path / "lake", "fx")
    assert (record["status"], record["exit_code"]) == ("failure", 143)
    assert "stopped by SIGTERM" in record["error"]
    failures = (tmp_path / "logs" / "failures.log").read_text()
    assert " pipeline=fx " in failures and " exit=143 stopped by SIGTERM" in failures
    assert "stopped by SIGTERM" in (tmp_path / "alert.txt").read_text()
    manifest = tmp_path / "lake" / "_ops" / "manifests" / "fx" / f"fx-{ISO}.json"
    assert '"exit_code": 143' in manifest.read_text()


def test_a_stopped_run_publishes_nothing_unfinished_and_a_rerun_builds_the_rest(rates_api,
                                                                                tmp_path):
    stopped_run(tmp_path, rates_api, signal.SIGTERM)
    lake = tmp_path / "lake"
    assert not (lake / "bronze" / "fx").exists()  # the pages never all arrived
    assert not (lake / "gold" / "so_revenue_usd").exists()
    rerun = run_command(etl_argv("fx", "--date", ISO), cwd=tmp_path,
                        env=environment(tmp_path, rates_api))
    assert rerun.returncode == 0, explain(rerun)
    assert (lake / "gold" / "so_revenue_usd" / f"date={ISO}" / "data.parquet").is_file()
