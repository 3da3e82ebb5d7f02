"""``etl-targets status``: which dates are done, and why the others are not (issue 9, items 1-2).

The lake is built by the CLI from the sample landing (2026-01-01..10; the
11th lands without its Qty column, so its silver fails; the 12th lands but
is not built), once per module, and copied with its modification times for
every test that changes something. The rules are called as a library
(:func:`etl_targets.graph.state.evaluate`, fast, and a test can watch what
is read); the command runs as a subprocess the way cron runs it. Expected
paths and checksums are recomputed from the files, never taken from the
code under test.

On S3 the cost is read from the moto server's own request log: a year of
small placeholder files (existence and times are all ``status`` needs for a
date that did not change) is one listing per prefix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pty
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from etl_targets.datasets import DATASETS
from etl_targets.errors import StorageError
from etl_targets.graph import state
from etl_targets.lake import storage

from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.lakes import contract_paths, partition
from support.landing import copy_landing, drop_column, landing_name
from support.paths import SAMPLE_SO
from support.s3 import S3RequestLog, s3_client_fs
from support.workspace import Folders

JAN = [dt.date(2026, 1, day) for day in range(1, 32)]
BUILT = JAN[:10]
FAILING, LANDED_ONLY = JAN[10], JAN[11]
CORRECTED = JAN[4]
STAGES = ("bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region")
#: the calendar's cells: done, failed, missing, no landing file yet
DONE, FAILED, MISSING, NOT_ARRIVED = "●", "✗", "○", "·"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

class Workspace(Folders):
    """The folders of one test, and the CLI run in them."""

    def run(self, *args: str) -> Run:
        env = cli_environment(self.lake, self.landing, self.logs)
        return Run.of(run_command(etl_argv(*args), cwd=self.cwd, env=env))

    def status(self, *args: str) -> Run:
        return self.run("status", "so", *args)

    def landing_file(self, day: dt.date) -> Path:
        return self.landing / "so" / landing_name(day)

    def file(self, day: dt.date, name: str) -> Path:
        """One of :func:`support.lakes.contract_paths` (``bronze``, ``silver``, ``daily``...)."""
        return self.lake / contract_paths(day)[name]


def newer_than(path: Path, reference: Path, seconds: float = 60) -> None:
    """Sets ``path``'s modification time ``seconds`` after ``reference``'s."""
    later = reference.stat().st_mtime_ns + int(seconds * 1e9)
    os.utime(path, ns=(later, later))


def correct_one_row(path: Path) -> None:
    """The ERP re-sends a file with one row changed: its Last Modified second, so the size stays."""
    lines = path.read_bytes().split(b"\n")
    row = lines[1].rstrip(b"\r")
    second = (int(row[-1:]) + 1) % 10
    lines[1] = row[:-1] + str(second).encode() + lines[1][len(row):]
    path.write_bytes(b"\n".join(lines))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory) -> Path:
    """January 1-10 built by the CLI; the 11th's silver failed; the 12th landed, not built."""
    ws = Workspace(tmp_path_factory.mktemp("built"))
    copy_landing(ws.landing, *BUILT, LANDED_ONLY)
    drop_column(SAMPLE_SO / landing_name(FAILING), ws.landing_file(FAILING), "qty")
    built = ws.run("so", "--start", BUILT[0].isoformat(), "--end", BUILT[-1].isoformat())
    assert built.code == 0, built
    failed = ws.run("so", "--date", FAILING.isoformat())
    assert failed.code == 5, failed
    return ws.root


@pytest.fixture(scope="module")
def built(built_lake) -> Workspace:
    """The module's built lake itself, for commands that only read it."""
    return Workspace(built_lake)


@pytest.fixture
def ws(built_lake, tmp_path) -> Workspace:
    """A private copy of the built lake and its landing area, modification times kept."""
    for name in ("landing", "lake"):
        shutil.copytree(built_lake / name, tmp_path / "ws" / name)
    return Workspace(tmp_path / "ws")


# --------------------------------------------------------------------------
# the rules (as a library): done, missing, no landing file
# --------------------------------------------------------------------------

def evaluate(ws: Workspace, *days: dt.date) -> Dict[Tuple[dt.date, str], state.StageState]:
    """``(date, stage) -> StageState`` for ``days`` of the workspace's lake."""
    found = state.evaluate(DATASETS["so"], days, str(ws.lake), str(ws.landing))
    return {(s.date, s.stage): s for s in found}


def states_of(found, day: dt.date) -> Dict[str, str]:
    return {stage: found[(day, stage)].state for stage in STAGES}


def test_every_stage_of_a_built_date_is_done(built):
    assert states_of(evaluate(built, BUILT[-1]), BUILT[-1]) == dict.fromkeys(STAGES, "done")


def test_a_date_landed_but_never_built_is_missing(built):
    found = evaluate(built, LANDED_ONLY)
    assert states_of(found, LANDED_ONLY) == dict.fromkeys(STAGES, "missing")


def test_a_date_after_the_last_landing_file_has_no_landing_file(built):
    day = dt.date(2026, 2, 3)
    found = evaluate(built, day)
    assert states_of(found, day) == dict.fromkeys(STAGES, "no_landing")
    assert found[(day, "bronze")].details["landing_files"] == [
        str(built.landing / "so" / landing_name(day))]


# --------------------------------------------------------------------------
# a corrected landing file, a touched one
# --------------------------------------------------------------------------

def correct(ws: Workspace, day: dt.date) -> None:
    correct_one_row(ws.landing_file(day))
    newer_than(ws.landing_file(day), ws.file(day, "bronze"))


def test_a_corrected_landing_file_makes_its_bronze_landing_changed_with_both_checksums(ws):
    landed = sha256(ws.file(CORRECTED, "bronze"))
    correct(ws, CORRECTED)

    bronze = evaluate(ws, CORRECTED)[(CORRECTED, "bronze")]
    assert bronze.state == "landing_changed"
    assert bronze.details["bronze_sha256"] == landed
    assert bronze.details["landing_sha256"] == sha256(ws.landing_file(CORRECTED)) != landed


def test_stages_built_from_a_corrected_landing_file_are_out_of_date_because_of_it(ws):
    correct(ws, CORRECTED)
    found = evaluate(ws, CORRECTED)
    for stage in STAGES[1:]:
        assert found[(CORRECTED, stage)].state == "upstream_newer", stage
        assert found[(CORRECTED, stage)].details["root_cause"] == [
            f"landing file of {CORRECTED} changed"], stage


def test_month_to_date_of_later_dates_is_out_of_date_after_a_correction(ws):
    correct(ws, CORRECTED)
    found = evaluate(ws, *JAN[5:10])
    for day in JAN[5:10]:
        assert states_of(found, day) == {"bronze": "done", "silver": "done",
                                         "gold:so_daily_sales": "done",
                                         "gold:so_mtd_by_region": "upstream_newer"}, day


def test_a_touched_landing_file_with_the_same_bytes_is_done(ws):
    newer_than(ws.landing_file(CORRECTED), ws.file(CORRECTED, "bronze"))
    assert states_of(evaluate(ws, CORRECTED), CORRECTED) == dict.fromkeys(STAGES, "done")


def test_only_a_suspected_date_has_files_read_its_landing_file_and_manifest(ws, monkeypatch):
    correct(ws, CORRECTED)
    read: List[str] = []
    for name in ("read_bytes", "open_input"):
        original = getattr(storage, name)
        monkeypatch.setattr(storage, name, lambda fs, path, _f=original: read.append(path) or
                            _f(fs, path))

    evaluate(ws, *BUILT)

    assert sorted(read) == sorted([str(ws.landing_file(CORRECTED)),
                                   str(ws.file(CORRECTED, "manifest"))])


# --------------------------------------------------------------------------
# an input rewritten after its output
# --------------------------------------------------------------------------

def test_gold_built_before_its_silver_was_rewritten_is_upstream_newer(ws):
    newer_than(ws.file(JAN[3], "silver"), ws.file(JAN[3], "daily"))
    daily = evaluate(ws, JAN[3])[(JAN[3], "gold:so_daily_sales")]
    assert daily.state == "upstream_newer"
    assert daily.details["newer_input"] == str(ws.file(JAN[3], "silver"))
    assert daily.details["newer_by_seconds"] == pytest.approx(60, abs=0.01)


def test_a_rewritten_silver_makes_month_to_date_of_that_and_later_days_upstream_newer(ws):
    newer_than(ws.file(JAN[3], "silver"), ws.file(BUILT[-1], "mtd"))
    found = evaluate(ws, *JAN[2:10])
    mtd = {day: found[(day, "gold:so_mtd_by_region")].state for day in JAN[2:10]}
    assert mtd == {JAN[2]: "done", **{day: "upstream_newer" for day in JAN[3:10]}}


# --------------------------------------------------------------------------
# failures, and listings that fail
# --------------------------------------------------------------------------

def failure_marker(ws: Workspace, day: dt.date, family: str, error: str) -> Path:
    """Writes ``_ops/failures/so/date=D/<family>.json`` (the contract's failure record)."""
    marker = ws.lake / "_ops" / "failures" / "so" / partition(day) / f"{family}.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"task_family": family, "date": day.isoformat(),
                                  "error": error, "failed_at": "2026-01-20T02:30:00+00:00"}))
    return marker


def test_a_task_that_failed_and_has_no_output_is_failed_with_its_error(built):
    silver = evaluate(built, FAILING)[(FAILING, "silver")]
    assert silver.state == "failed"
    assert "Qty" in silver.details["error"], silver


def test_a_failure_marker_newer_than_an_existing_output_is_failed(ws):
    marker = failure_marker(ws, JAN[6], "GoldSO", "disk full")
    newer_than(marker, ws.file(JAN[6], "daily"))
    daily = evaluate(ws, JAN[6])[(JAN[6], "gold:so_daily_sales")]
    assert (daily.state, daily.details["error"]) == ("failed", "disk full")


def test_a_failure_marker_older_than_the_output_is_history(ws):
    marker = failure_marker(ws, JAN[6], "GoldSO", "disk full")
    newer_than(marker, ws.file(JAN[6], "daily"), seconds=-3600)
    assert evaluate(ws, JAN[6])[(JAN[6], "gold:so_daily_sales")].state == "done"


@pytest.mark.s3
def test_a_listing_that_fails_is_an_error_never_absent(s3_unreachable, ws):
    with pytest.raises(StorageError):
        state.evaluate(DATASETS["so"], JAN[:3], f"s3://{s3_unreachable}/lake", str(ws.landing))


# --------------------------------------------------------------------------
# the command: exit status, calendar, list, --json, --why, colour
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def january(built) -> Run:
    """``status`` of 2026-01-01..2026-02-03, piped: built, failed, landed only, not arrived."""
    return built.status("--start", JAN[0].isoformat(), "--end", "2026-02-03")


def test_a_built_range_exits_0(built):
    run = built.status("--start", BUILT[0].isoformat(), "--end", BUILT[-1].isoformat())
    assert run.code == 0, run


def test_a_range_with_a_date_not_done_exits_8(january):
    assert january.code == 8, january


def test_the_calendar_shows_each_days_worst_state_at_its_day_of_the_month(january):
    month = next(line for line in january.stdout.splitlines() if line.startswith("2026-01 "))
    cells = month.split(" ", 2)[2].split(" ")
    assert cells == [DONE] * 10 + [FAILED, MISSING] + [NOT_ARRIVED] * 19, january


def test_the_list_after_the_calendar_names_each_stage_that_is_not_done(january):
    listed = [line.split()[:3] for line in january.stdout.splitlines()
              if line.startswith(("  2026-01-11", "  2026-01-12"))]
    assert listed == [["2026-01-11", "silver", "failed"]] + [
        ["2026-01-11", stage, "missing"] for stage in STAGES[2:]] + [
        ["2026-01-12", stage, "missing"] for stage in STAGES], january


def test_piped_output_has_no_colour_codes(january):
    assert "\x1b[" not in january.stdout, january


def test_json_is_one_document_with_one_entry_per_date_and_stage(built):
    run = built.status("--start", JAN[0].isoformat(), "--end", LANDED_ONLY.isoformat(), "--json")
    entries = json.loads(run.stdout)["entries"]
    assert [(e["date"], e["stage"]) for e in entries] == [
        (day.isoformat(), stage) for day in JAN[:12] for stage in STAGES]
    assert all(set(e) == {"date", "stage", "state", "reason", "details"} for e in entries)


def test_why_explains_a_corrected_date_with_the_landing_file_and_both_checksums(ws):
    landed = sha256(ws.file(CORRECTED, "bronze"))
    correct(ws, CORRECTED)

    run = ws.status("--why", CORRECTED.isoformat())
    assert run.code == 8
    for expected in (str(ws.landing_file(CORRECTED)), landed, sha256(ws.landing_file(CORRECTED)),
                     *STAGES, f"landing file of {CORRECTED} changed"):
        assert expected in run.stdout, (expected, run)


def test_why_names_the_newer_input_and_by_how_much(ws):
    newer_than(ws.file(JAN[3], "silver"), ws.file(JAN[3], "daily"), seconds=200)
    run = ws.status("--why", JAN[3].isoformat())
    assert "silver of 2026-01-04 was written 3m20s after this output" in run.stdout, run
    assert str(ws.file(JAN[3], "silver")) in run.stdout


def test_terminal_output_is_coloured(built):
    primary, secondary = pty.openpty()
    env = cli_environment(built.lake, built.landing, built.logs)
    with subprocess.Popen(etl_argv("status", "so", "--date", LANDED_ONLY.isoformat()),
                          cwd=built.cwd, env=env, stdout=secondary,
                          stderr=subprocess.PIPE) as process:
        os.close(secondary)
        shown = read_all(primary)
        process.wait(timeout=60)
    assert "\x1b[33m" in shown, shown  # missing, in yellow


def read_all(fd: int) -> str:
    """Everything written to a pty until the other side closes it."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode()


def test_status_writes_nothing(ws, lake_snapshot):
    correct_one_row(ws.landing_file(CORRECTED))
    before = lake_snapshot(ws.root)
    ws.status("--start", JAN[0].isoformat(), "--end", "2026-02-03")
    ws.status("--why", CORRECTED.isoformat())
    assert lake_snapshot(ws.root) == before


# --------------------------------------------------------------------------
# cost on S3: a year is a handful of listings
# --------------------------------------------------------------------------

YEAR = [dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(365)]
CHANGED = (YEAR[40], YEAR[200])


def tiny_landing(day: dt.date) -> bytes:
    return f"SO Number,Line\nSO-{day:%y%m%d}000001,1\n".encode()


def placeholder_year(fs, bucket: str) -> None:
    """A year of a built lake: each stage written after the one before it (times matter)."""
    bronze, later = {}, {name: {} for name in ("silver", "rejects", "daily", "mtd")}
    for day in YEAR:
        paths, data = contract_paths(day), tiny_landing(day)
        bronze[f"{bucket}/lake/{paths['bronze']}"] = data
        bronze[f"{bucket}/lake/{paths['manifest']}"] = json.dumps(
            {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}).encode()
        for name in later:
            later[name][f"{bucket}/lake/{paths[name]}"] = b"placeholder"
    fs.pipe(bronze)
    for name in ("rejects", "silver", "daily", "mtd"):
        fs.pipe(later[name])


@pytest.fixture(scope="module")
def year_on_s3(s3_module_env, moto_server, tmp_path_factory):
    """Runs ``status`` for 2025 twice: the landing as landed, then with two files corrected.

    The landing files are uploaded after the lake, so each is newer than its
    bronze copy: on S3 the equal sizes and ETags must clear them unread.
    """
    bucket, fs = s3_module_env, s3_client_fs(moto_server.endpoint)
    placeholder_year(fs, bucket)
    fs.pipe({f"{bucket}/landing/so/{landing_name(d)}": tiny_landing(d) for d in YEAR})
    cwd = tmp_path_factory.mktemp("year")
    env = cli_environment(f"s3://{bucket}/lake", f"s3://{bucket}/landing", cwd / "logs")
    argv = etl_argv("status", "so", "--start", YEAR[0].isoformat(), "--end",
                    YEAR[-1].isoformat(), "--json")
    log, runs = S3RequestLog(moto_server), {}
    for name in ("as-landed", "corrected"):
        if name == "corrected":
            fs.pipe({f"{bucket}/landing/so/{landing_name(d)}": tiny_landing(d) + b"SO-X,2\n"
                     for d in CHANGED})
        log.mark()
        runs[name] = (Run.of(run_command(argv, cwd=cwd, env=env)), log())
    return runs


@pytest.mark.s3
def test_a_year_on_s3_where_nothing_changed_is_done_in_at_most_30_requests(year_on_s3):
    run, requests = year_on_s3["as-landed"]
    assert run.code == 0, run
    assert len(requests) <= 30, requests


@pytest.mark.s3
def test_a_year_on_s3_where_nothing_changed_reads_no_object(year_on_s3):
    _, requests = year_on_s3["as-landed"]
    assert [r for r in requests if r[0] == "GET" and "list-type=2" not in r[1]] == [], requests


@pytest.mark.s3
def test_each_corrected_landing_file_on_s3_costs_at_most_3_more_requests(year_on_s3):
    run, requests = year_on_s3["corrected"]
    assert run.code == 8, run
    assert len(requests) <= 30 + 3 * len(CHANGED), requests


@pytest.mark.s3
def test_a_year_on_s3_finds_exactly_the_corrected_dates(year_on_s3):
    run, _ = year_on_s3["corrected"]
    changed = [e["date"] for e in json.loads(run.stdout)["entries"]
               if e["state"] == "landing_changed"]
    assert changed == [d.isoformat() for d in CHANGED]
