"""Acceptance tests of ``etl-targets``, run as a subprocess the way cron runs it.

Every command runs as ``python -m etl_targets ...`` (once as the
``etl-targets`` console script) from an empty working directory, with
``LUIGI_CONFIG_PATH`` naming the repository's ``luigi.cfg`` and
``ETL_LAKE_ROOT`` / ``ETL_LANDING_ROOT`` / ``ETL_LOG_DIR`` pointing into a
temporary folder. What the tests look at is what an operator sees: the exit
status, stdout/stderr, the log file, and the files in the lake. Expected
values are recomputed from the published files and the landing files (row
counts from Parquet footers, sha256 of the landing bytes), never taken from
the code under test.

A few runs are shared by several tests through module-scoped fixtures (each
run takes about a second); those tests only read what the run left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional

import pyarrow.parquet as pq
import pytest

from support.cli import CONSOLE_SCRIPT, Run, etl_argv, run_command
from support.env import cli_environment
from support.lakes import GOLD_TABLES, partition, run_records
from support.landing import copy_landing, drop_column, landing_name
from support.paths import SAMPLE_SO
from support.s3 import s3_client_fs

JAN = [dt.date(2026, 1, day) for day in range(1, 32)]
JAN_1, JAN_2, JAN_3, JAN_27 = dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3), \
    dt.date(2026, 1, 27)

RUN_ID = re.compile(r"\b\d{8}T\d{9}Z-[0-9a-f]{8}\b")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Workspace:
    """A landing area, a lake, a log folder and an empty working directory.

    ``lake`` is a local folder unless an ``s3://`` URL is given.
    """

    def __init__(self, root: Path, lake: Optional[str] = None):
        self.root = root
        self.landing = root / "landing"
        self.logs = root / "logs"
        self.cwd = root / "cwd"
        (self.landing / "so").mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.lake_url = lake or str(root / "lake")
        self.lake = None if self.lake_url.startswith("s3://") else Path(self.lake_url)

    def land(self, *days: dt.date) -> None:
        copy_landing(self.landing, *days)

    def landing_file(self, day: dt.date) -> Path:
        return self.landing / "so" / landing_name(day)

    def env(self, **overrides: Optional[str]) -> Dict[str, str]:
        return cli_environment(self.lake_url, self.landing, self.logs, **overrides)

    def run(self, *args: str, command: Optional[List[str]] = None, timeout: float = 120,
            **env: Optional[str]) -> Run:
        argv = (command or etl_argv()) + list(args)
        return Run.of(run_command(argv, cwd=self.cwd, env=self.env(**env), timeout=timeout))

    # -- reading what a run left ------------------------------------------

    def ops(self, *parts: str) -> Path:
        return self.lake.joinpath("_ops", *parts)

    def manifest(self, day: dt.date) -> dict:
        return json.loads(self.ops("manifests", "so", f"so-{day.isoformat()}.json").read_text())

    def latest(self) -> dict:
        return json.loads(self.ops("latest", "so.json").read_text())

    def run_records(self) -> List[dict]:
        return run_records(self.lake)

    def log_file(self, day: dt.date) -> Path:
        return self.logs / "so" / f"so-{day.isoformat()}.log"

    def gold_file(self, table: str, day: dt.date) -> Path:
        return self.lake / "gold" / table / partition(day) / "data.parquet"


def local_snapshot(root: Path) -> Dict[str, tuple]:
    """Every file below ``root``: relative path -> (inode, mtime_ns, sha256 of the bytes)."""
    found = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_ino, stat.st_mtime_ns, sha256(path))
    return found


def published_counts(ws: Workspace, days: List[dt.date], gold_day: dt.date) -> Dict[str, tuple]:
    """``{step: (rows, rejects)}`` recomputed from the files in the lake."""
    bronze = sum(json.loads((ws.lake / "bronze" / "so" / partition(d) / "_manifest.json")
                            .read_text())["rows"] for d in days)
    silver = sum(pq.read_metadata(ws.lake / "silver" / "so" / partition(d)
                                  / "data.parquet").num_rows for d in days)
    rejects = sum(pq.read_metadata(ws.lake / "silver" / "so_rejects" / partition(d)
                                   / "data.parquet").num_rows for d in days)
    counts = {"bronze": (bronze, None), "silver": (silver, rejects)}
    for table in GOLD_TABLES:
        counts[f"gold:{table}"] = (pq.read_metadata(ws.gold_file(table, gold_day)).num_rows, None)
    return counts


def s3_snapshot(url: str) -> Dict[str, str]:
    """Every object below an ``s3://`` URL: key -> sha256 of its bytes (a client with no cache)."""
    fs = s3_client_fs(os.environ["AWS_ENDPOINT_URL"])  # where the test's environment points
    root = url[len("s3://"):]
    if not fs.exists(root):
        return {}
    return {key: hashlib.sha256(fs.cat_file(key)).hexdigest() for key in fs.find(root)}


def only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


def error_lines(run: Run) -> List[str]:
    """stderr without the end banner (``== FAILURE in 0.1s (exit 4)``)."""
    return [line for line in run.stderr.splitlines() if line.strip() and not line.startswith("== ")]


# --------------------------------------------------------------------------
# A run on the sample, then the same command again
# --------------------------------------------------------------------------

@dataclasses.dataclass
class TwoRuns:
    ws: Workspace
    first: Run
    after_first: Dict[str, tuple]
    manifest: dict
    latest: dict
    records: List[dict]
    second: Run
    after_second: Dict[str, tuple]


@pytest.fixture(scope="module")
def jan_27(tmp_path_factory) -> TwoRuns:
    """``so --date 2026-01-27`` on January's sample files, run twice."""
    ws = Workspace(tmp_path_factory.mktemp("jan27"))
    ws.land(*JAN)
    first = ws.run("so", "--date", "2026-01-27")
    assert first.code == 0, str(first)
    after_first = local_snapshot(ws.lake)
    manifest, latest, records = ws.manifest(JAN_27), ws.latest(), ws.run_records()
    time.sleep(0.05)  # a rewritten file would get a visibly new mtime
    second = ws.run("so", "--date", "2026-01-27")
    return TwoRuns(ws, first, after_first, manifest, latest, records, second,
                   local_snapshot(ws.lake))


def test_run_on_the_sample_exits_0(jan_27):
    assert jan_27.first.code == 0, str(jan_27.first)
    assert jan_27.first.stderr == "", str(jan_27.first)


def test_run_prints_a_start_banner_with_pipeline_date_env_and_roots(jan_27):
    head = jan_27.first.stdout.split("   bronze")[0]
    assert re.search(r"^\s+pipeline\s+so$", head, re.M), str(jan_27.first)
    assert re.search(r"^\s+dates?\s+2026-01-27$", head, re.M), str(jan_27.first)
    assert re.search(r"^\s+env\s+default$", head, re.M), str(jan_27.first)
    assert str(jan_27.ws.landing) in head and str(jan_27.ws.lake) in head, str(jan_27.first)
    assert RUN_ID.search(head), str(jan_27.first)


def test_run_prints_one_line_per_stage_with_the_counts_it_published(jan_27):
    printed = jan_27.first.stage_counts()
    assert printed == published_counts(jan_27.ws, [JAN_27], JAN_27), str(jan_27.first)
    assert all(rows > 0 for rows, _ in printed.values())


def test_run_prints_an_end_banner_with_success_and_duration(jan_27):
    last = jan_27.first.stdout.strip().splitlines()[-1]
    assert re.match(r"^== SUCCESS in \d+(\.\d+)?s \(exit 0\)", last), str(jan_27.first)


def test_run_writes_its_log_file_under_log_dir_by_pipeline_and_date(jan_27):
    log = jan_27.ws.log_file(JAN_27)
    assert log.is_file()
    assert jan_27.manifest["run_id"] in log.read_text()


def test_run_writes_nothing_into_the_working_directory(jan_27):
    assert list(jan_27.ws.cwd.iterdir()) == []


def test_run_files_a_success_manifest_with_counts_and_input_sha256(jan_27):
    manifest = jan_27.manifest
    assert manifest["status"] == "success"
    assert manifest["pipeline"] == "so" and manifest["dates"] == ["2026-01-27"]
    assert manifest["env"] == "default"
    assert manifest["started_at"] <= manifest["finished_at"]
    counts = {step: rows for step, (rows, _) in jan_27.first.stage_counts().items()}
    counts["rejected"] = jan_27.first.stage_counts()["silver"][1]
    assert manifest["counts"] == counts
    inputs = {i["date"]: i for i in manifest["inputs"]}
    assert sorted(inputs) == [d.isoformat() for d in JAN[:27]]
    jan27 = inputs["2026-01-27"]
    assert jan27["sha256"] == sha256(jan_27.ws.landing_file(JAN_27))
    assert jan27["path"].endswith(landing_name(JAN_27))
    assert all(i["sha256"] == sha256(jan_27.ws.landing_file(dt.date.fromisoformat(d)))
               for d, i in inputs.items())
    assert str(jan_27.ws.gold_file("so_daily_sales", JAN_27)) in manifest["outputs"]


def test_run_points_latest_at_its_own_run(jan_27):
    assert jan_27.latest["run_id"] == jan_27.manifest["run_id"] == jan_27.records[0]["run_id"]
    assert jan_27.latest == jan_27.records[0]


def test_run_adds_exactly_one_run_record(jan_27):
    files = [p for p in jan_27.after_first if p.startswith("_ops/runs/")]
    assert len(files) == 1 and files[0].startswith("_ops/runs/so/"), files
    (record,) = jan_27.records
    assert record["run_id"] == jan_27.manifest["run_id"]
    assert record["status"] == "success"
    assert record["run_id"] in jan_27.first.stdout


def test_second_run_exits_0_and_reports_already_complete(jan_27):
    assert jan_27.second.code == 0, str(jan_27.second)
    assert "already complete" in jan_27.second.stdout, str(jan_27.second)
    assert jan_27.second.stage_counts() == {}, str(jan_27.second)


def test_second_run_changes_no_data_file_and_only_files_a_new_run_record(jan_27):
    before, after = jan_27.after_first, jan_27.after_second
    data_before = {p: v for p, v in before.items() if not p.startswith("_ops/")}
    data_after = {p: v for p, v in after.items() if not p.startswith("_ops/")}
    assert data_after == data_before
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].startswith("_ops/runs/so/"), new
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert set(changed) <= {"_ops/manifests/so/so-2026-01-27.json", "_ops/latest/so.json"}, changed
    record = jan_27.ws.run_records()[-1]
    assert record["status"] == "success" and record["tasks_run"] == 0


def test_second_run_latest_pointer_still_names_every_gold_table(jan_27):
    latest = jan_27.ws.latest()
    assert latest["run_id"] != jan_27.latest["run_id"] and latest["already_complete"] is True
    for table in GOLD_TABLES:
        assert str(jan_27.ws.gold_file(table, JAN_27)) in latest["outputs"], latest


# --------------------------------------------------------------------------
# --dry-run
# --------------------------------------------------------------------------

def test_dry_run_leaves_a_local_lake_byte_for_byte_unchanged(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1, JAN_2, JAN_3)
    assert ws.run("so", "--date", "2026-01-01").code == 0
    before = local_snapshot(ws.lake)
    time.sleep(0.05)
    dry = ws.run("so", "--date", "2026-01-03", "--dry-run")
    assert dry.code == 0, str(dry)
    assert dry.stage_counts(), dry  # it did compute something
    assert not ws.log_file(JAN_3).exists(), "a dry run writes no log file either"
    assert local_snapshot(ws.lake) == before


def test_dry_run_prints_the_same_counts_a_real_run_then_publishes(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1, JAN_2, JAN_3)

    def stages(run: Run) -> Dict[str, tuple]:
        return {e["event"]: (e["rows"], e["rejects"], e["dates"], e["location"])
                for e in run.json_events() if e["status"] in ("done", "would_build")
                and (e["event"] in ("bronze", "silver") or e["event"].startswith("gold:"))}

    dry = ws.run("so", "--date", "2026-01-03", "--dry-run", "--log-format", "json")
    real = ws.run("so", "--date", "2026-01-03", "--log-format", "json")
    assert dry.code == 0 and real.code == 0, f"{dry}\n{real}"
    assert stages(dry) == stages(real)
    assert set(stages(real)) == {"bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region"}
    published = published_counts(ws, [JAN_3], JAN_3)
    assert {s: (rows, rejects) for s, (rows, rejects, _, _) in stages(dry).items()} == published


@pytest.mark.s3
def test_dry_run_on_s3_sends_no_write_request(tmp_path, s3_env, s3_requests):
    ws = Workspace(tmp_path, lake=f"s3://{s3_env}/lake")
    ws.land(JAN_1, JAN_2)
    assert ws.run("so", "--date", "2026-01-01").code == 0
    before = s3_snapshot(ws.lake_url)
    assert before
    s3_requests.mark()
    dry = ws.run("so", "--date", "2026-01-02", "--dry-run")
    assert dry.code == 0, str(dry)
    assert s3_requests(), "the dry run should at least have read the lake"
    assert s3_requests.writes() == []
    assert s3_snapshot(ws.lake_url) == before


# --------------------------------------------------------------------------
# A missing landing file, after a success
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SuccessThenMissing:
    ws: Workspace
    success: Run
    success_manifest: dict
    missing: Run


@pytest.fixture(scope="module")
def missing_jan_2(tmp_path_factory) -> SuccessThenMissing:
    """A success for 2026-01-01, then 2026-01-02 whose landing file never arrived."""
    ws = Workspace(tmp_path_factory.mktemp("missing"))
    ws.land(JAN_1)
    success = ws.run("so", "--date", "2026-01-01")
    assert success.code == 0, str(success)
    missing = ws.run("so", "--date", "2026-01-02")
    return SuccessThenMissing(ws, success, ws.manifest(JAN_1), missing)


def test_missing_landing_file_exits_4(missing_jan_2):
    assert missing_jan_2.missing.code == 4, str(missing_jan_2.missing)


def test_missing_landing_file_is_one_error_line_naming_the_expected_path(missing_jan_2):
    run = missing_jan_2.missing
    (line,) = error_lines(run)
    assert str(missing_jan_2.ws.landing_file(JAN_2)) in line, str(run)
    assert "Traceback" not in run.output, str(run)


def test_missing_landing_file_leaves_a_failure_run_record_with_the_error(missing_jan_2):
    records = missing_jan_2.ws.run_records()
    assert [r["status"] for r in records] == ["success", "failure"]
    failure = records[-1]
    assert landing_name(JAN_2) in failure["error"]
    assert failure["dates"] == ["2026-01-02"]


def test_missing_landing_file_leaves_a_failure_manifest_with_the_error(missing_jan_2):
    manifest = missing_jan_2.ws.manifest(JAN_2)
    assert manifest["status"] == "failure"
    assert str(missing_jan_2.ws.landing_file(JAN_2)) in manifest["error"]


def test_missing_landing_file_keeps_latest_on_the_last_success(missing_jan_2):
    latest = missing_jan_2.ws.latest()
    assert latest["run_id"] == missing_jan_2.success_manifest["run_id"]
    assert latest["status"] == "success" and latest["dates"] == ["2026-01-01"]


# --------------------------------------------------------------------------
# A failing task: the landing file lacks a required column
# --------------------------------------------------------------------------

@dataclasses.dataclass
class FailedTask:
    ws: Workspace
    run: Run


def land_without_qty(ws: Workspace, day: dt.date) -> None:
    """Lands the sample file of ``day`` with its Qty column cut out (a file-level error)."""
    drop_column(SAMPLE_SO / landing_name(day), ws.landing_file(day), "Qty")


@pytest.fixture(scope="module")
def no_qty_column(tmp_path_factory) -> FailedTask:
    """2026-01-01's file with its Qty column cut out."""
    ws = Workspace(tmp_path_factory.mktemp("noqty"))
    land_without_qty(ws, JAN_1)
    return FailedTask(ws, ws.run("so", "--date", "2026-01-01"))


def test_failing_task_exits_5(no_qty_column):
    assert no_qty_column.run.code == 5, str(no_qty_column.run)


def test_failing_task_is_one_error_line_naming_the_file_and_the_problem(no_qty_column):
    run = no_qty_column.run
    (line,) = error_lines(run)
    assert landing_name(JAN_1) in line and "Qty" in line, str(run)
    assert "Traceback" not in run.output, str(run)


def test_failing_task_traceback_is_in_the_log_file(no_qty_column):
    assert "Traceback" in no_qty_column.ws.log_file(JAN_1).read_text()


def test_failing_task_leaves_failure_manifest_and_run_record_and_no_latest(no_qty_column):
    ws = no_qty_column.ws
    manifest = ws.manifest(JAN_1)
    assert manifest["status"] == "failure" and "Qty" in manifest["error"]
    (record,) = ws.run_records()
    assert record["status"] == "failure" and record["run_id"] == manifest["run_id"]
    assert not ws.ops("latest", "so.json").exists()


def test_failing_task_and_missing_files_are_named_in_the_same_error_line(tmp_path):
    ws = Workspace(tmp_path)
    land_without_qty(ws, JAN_1)  # and Jan 2 and 3 are missing
    run = ws.run("so", "--date", "2026-01-03")
    assert run.code == 5, str(run)
    (line,) = error_lines(run)
    assert landing_name(JAN_1) in line and "Qty" in line, str(run)
    assert str(ws.landing_file(JAN_2)) in line and str(ws.landing_file(JAN_3)) in line, str(run)


def test_date_defaults_to_today(tmp_path):
    ws = Workspace(tmp_path)  # empty landing: the run fails fast, after the banner
    before = dt.date.today()
    run = ws.run("so")
    today = {before, dt.date.today()}
    assert run.code == 4, str(run)
    banner = [rf"^\s+dates?\s+{d.isoformat()}$" for d in today]
    assert any(re.search(line, run.stdout, re.M) for line in banner), str(run)
    assert any(ws.ops("manifests", "so", f"so-{d.isoformat()}.json").is_file() for d in today)


# --------------------------------------------------------------------------
# --input, backfills, --log-format json
# --------------------------------------------------------------------------

def test_input_builds_a_date_that_has_no_landing_file(tmp_path):
    ws = Workspace(tmp_path)
    drop = tmp_path / "drop" / "misnamed.csv"
    drop.parent.mkdir()
    shutil.copyfile(SAMPLE_SO / landing_name(JAN_1), drop)
    run = ws.run("so", "--date", "2026-01-01", "--input", str(drop))
    assert run.code == 0, str(run)
    assert all(ws.gold_file(t, JAN_1).is_file() for t in GOLD_TABLES)
    bronze_manifest = ws.lake / "bronze" / "so" / partition(JAN_1) / "_manifest.json"
    bronze = json.loads(bronze_manifest.read_text())
    assert bronze["source_path"] == str(drop)
    assert bronze["sha256"] == sha256(drop)


def test_a_bad_input_file_is_named_by_its_own_name_in_the_error_and_the_records(tmp_path):
    ws = Workspace(tmp_path)
    drop = tmp_path / "drop" / "fixed-by-hand.csv"
    drop.parent.mkdir()
    drop_column(SAMPLE_SO / landing_name(JAN_1), drop, "Last Modified")
    run = ws.run("so", "--date", "2026-01-01", "--input", str(drop))
    assert run.code == 5, str(run)
    line = only_line("\n".join(error_lines(run)))
    assert "fixed-by-hand.csv" in line and "Last Modified" in line, line
    assert landing_name(JAN_1) not in line
    bronze = json.loads((ws.lake / "bronze" / "so" / partition(JAN_1) / "_manifest.json").read_text())
    assert (bronze["source_name"], bronze["source_path"]) == ("fixed-by-hand.csv", str(drop))
    assert "fixed-by-hand.csv" in (ws.logs / "failures.log").read_text()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_unknown_column_dropped_is_a_warning_on_the_console(tmp_path, log_format):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)  # the sample files carry a Warehouse column the contract does not know
    run = ws.run("so", "--date", "2026-01-01", "--log-format", log_format)
    assert run.code == 0, str(run)
    if log_format == "text":
        warning = [line for line in run.stdout.splitlines() if "warning:" in line]
        assert len(warning) == 1 and "dropping unknown column(s) Warehouse" in warning[0], run.stdout
    else:
        events = [json.loads(line) for line in run.stdout.splitlines()]
        warning = [e for e in events if e["event"] == "warning"]
        assert [(e["status"], e["run_id"]) for e in warning] == [("warning", events[0]["run_id"])]
        assert "dropping unknown column(s) Warehouse" in warning[0]["warning"]


def test_a_run_whose_records_cannot_be_written_is_a_failure_in_every_place_it_is_told(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    assert ws.run("so", "--date", "2026-01-01").code == 0
    runs = ws.ops("runs", "so")
    shutil.rmtree(runs)
    runs.write_text("a file where the run records go")
    run = ws.run("so", "--date", "2026-01-01")  # already complete; only its record is written
    assert run.code == 5, str(run)
    line = only_line("\n".join(error_lines(run)))
    assert line.startswith("error: could not write run records: cannot write "), line
    assert "== FAILURE" in run.stderr + run.stdout and "SUCCESS" not in run.output
    failures = (ws.logs / "failures.log").read_text()
    assert "exit=5 could not write run records: cannot write" in failures, failures


def test_input_that_does_not_exist_exits_4_naming_it(tmp_path):
    ws = Workspace(tmp_path)
    ghost = tmp_path / "drop" / "nowhere.csv"
    run = ws.run("so", "--date", "2026-01-01", "--input", str(ghost))
    assert run.code == 4, str(run)
    assert str(ghost) in only_line("\n".join(error_lines(run))), str(run)
    assert "Traceback" not in run.output


@pytest.fixture(scope="module")
def backfill_json(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("backfill"))
    ws.land(JAN_1, JAN_2, JAN_3)
    run = ws.run("so", "--start", "2026-01-01", "--end", "2026-01-03", "--log-format", "json")
    return ws, run


def test_backfill_builds_every_date_of_the_range(backfill_json):
    ws, run = backfill_json
    assert run.code == 0, str(run)
    for day in (JAN_1, JAN_2, JAN_3):
        assert all(ws.gold_file(t, day).is_file() for t in GOLD_TABLES), day
    (record,) = ws.run_records()
    assert record["dates"] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert all(ws.manifest(d)["run_id"] == record["run_id"] for d in (JAN_1, JAN_2, JAN_3))


def test_json_log_format_prints_one_object_per_line_with_run_id_step_status_duration(backfill_json):
    ws, run = backfill_json
    assert run.code == 0, str(run)
    events = run.json_events()  # raises if any line is not JSON
    assert len(events) >= 3
    for event in events:
        assert {"ts", "run_id", "event", "dataset", "status", "duration_ms"} <= set(event), event
    assert {e["run_id"] for e in events} == {ws.run_records()[0]["run_id"]}
    steps = [e["event"] for e in events]
    assert steps[0] == "start" and steps[-1] == "end"
    start = events[0]
    assert (start["dates"], start["start"], start["end"]) == (3, "2026-01-01", "2026-01-03")
    assert {"bronze", "silver", "gold:so_daily_sales", "gold:so_mtd_by_region"} <= set(steps)
    end = events[-1]
    assert end["status"] == "succeeded" and isinstance(end["duration_ms"], int)
    assert end["counts"]["gold:so_daily_sales"] == sum(
        pq.read_metadata(ws.gold_file("so_daily_sales", d)).num_rows for d in (JAN_1, JAN_2, JAN_3))


def test_json_log_format_failure_is_json_on_stdout_and_one_line_on_stderr(tmp_path):
    ws = Workspace(tmp_path)  # no landing file
    run = ws.run("so", "--date", "2026-01-01", "--log-format", "json")
    assert run.code == 4, str(run)
    failed = [e for e in run.json_events() if e["status"] == "failed" and e["event"] != "end"]
    assert failed and str(ws.landing_file(JAN_1)) in failed[0]["error"], str(run)
    (line,) = error_lines(run)
    assert line.startswith("error: ") and str(ws.landing_file(JAN_1)) in line, str(run)


# --------------------------------------------------------------------------
# --env and bad command lines
# --------------------------------------------------------------------------

def test_env_dev_uses_the_dev_section_of_luigi_cfg(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    run = ws.run("so", "--date", "2026-01-01", "--env", "dev", ETL_LAKE_ROOT=None)
    assert run.code == 0, str(run)
    assert re.search(r"^\s+env\s+dev$", run.stdout, re.M), str(run)
    dev_lake = ws.cwd / "data" / "lake-dev"  # [etl_targets.dev] lake_root, relative to cwd
    assert (dev_lake / "gold" / "so_daily_sales" / partition(JAN_1) / "data.parquet").is_file()
    assert json.loads((dev_lake / "_ops" / "latest" / "so.json").read_text())["env"] == "dev"


def test_env_dev_refuses_a_contradicting_lake_root_with_exit_3(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    run = ws.run("so", "--date", "2026-01-01", "--env", "dev")  # ETL_LAKE_ROOT -> tmp lake
    assert run.code == 3, str(run)
    assert "ETL_LAKE_ROOT" in only_line(run.stderr), str(run)
    assert "Traceback" not in run.output
    assert not ws.lake.exists() and not (ws.cwd / "data").exists()


def test_unknown_env_exits_3(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    run = ws.run("so", "--date", "2026-01-01", "--env", "staging")
    assert run.code == 3, str(run)
    assert "staging" in only_line(run.stderr), str(run)
    assert not ws.lake.exists()


@pytest.mark.parametrize("args", [
    ["so", "--date", "2026-13-01"],
    ["so", "--start", "2026-01-01"],
    ["so", "--start", "2026-01-03", "--end", "2026-01-01"],
    ["so", "--start", "2026-01-01", "--end", "2026-01-02", "--input", "x.csv"],
    ["freshness", "--max-age", "soon"],
], ids=lambda args: " ".join(args))
def test_bad_arguments_exit_2_and_touch_nothing(tmp_path, args):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    run = ws.run(*args)
    assert run.code == 2, str(run)
    assert "Traceback" not in run.output, str(run)
    assert not ws.lake.exists() and not ws.logs.exists()


# --------------------------------------------------------------------------
# runs and freshness
# --------------------------------------------------------------------------

def test_freshness_bad_max_age_is_one_error_line_on_stderr(tmp_path):
    run = Workspace(tmp_path).run("freshness", "--max-age", "soon")
    assert run.code == 2, str(run)
    assert "soon" in only_line(run.stderr), str(run)


def test_runs_prints_a_table_with_every_run_id(missing_jan_2):
    ws = missing_jan_2.ws
    run = ws.run("runs")
    assert run.code == 0, str(run)
    ids = [r["run_id"] for r in ws.run_records()]
    assert len(ids) == 2 and all(i in run.stdout for i in ids), str(run)
    assert "success" in run.stdout and "failure" in run.stdout


def test_runs_status_failure_shows_only_failures(missing_jan_2):
    ws = missing_jan_2.ws
    run = ws.run("runs", "--status", "failure")
    assert run.code == 0, str(run)
    success, failure = [r["run_id"] for r in ws.run_records()]
    assert failure in run.stdout and success not in run.stdout, str(run)
    assert not re.search(r"\bsuccess\b", run.stdout), str(run)


def test_freshness_exits_7_when_no_success_was_recorded(tmp_path):
    run = Workspace(tmp_path).run("freshness", "--pipeline", "so", "--max-age", "26h")
    assert run.code == 7, str(run)


# --------------------------------------------------------------------------
# The console script, luigid, credentials
# --------------------------------------------------------------------------

def test_console_script_is_the_same_command(tmp_path):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    run = ws.run("so", "--date", "2026-01-01", command=[str(CONSOLE_SCRIPT)])
    assert run.code == 0, str(run)
    assert run.stage_counts() == published_counts(ws, [JAN_1], JAN_1), str(run)


@pytest.mark.luigid
def test_run_against_luigid_leaves_gold_tasks_done_in_its_api(tmp_path, luigid):
    ws = Workspace(tmp_path)
    ws.land(JAN_1, JAN_2)
    run = ws.run("so", "--date", "2026-01-02", "--scheduler-host", luigid.host,
                 "--scheduler-port", str(luigid.port))
    assert run.code == 0, str(run)
    done = luigid.api("task_list", status="DONE")
    families = {(task["name"], task["params"]["date"]) for task in done.values()}
    assert {("GoldSO", "2026-01-02"), ("GoldSOMTD", "2026-01-02")} <= families, sorted(done)
    assert any(task_id.startswith("GoldSO_") for task_id in done)
    assert any(task_id.startswith("GoldSOMTD_") for task_id in done)


@pytest.mark.luigid
def test_dry_run_with_a_scheduler_host_leaves_luigid_untouched_and_the_real_run_builds(
        tmp_path, luigid):
    ws = Workspace(tmp_path)
    ws.land(JAN_1)
    where = ("--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port))
    dry = ws.run("so", "--date", "2026-01-01", "--dry-run", *where)
    assert dry.code == 0 and luigid.api("task_list", status="") == {}, str(dry)
    real = ws.run("so", "--date", "2026-01-01", *where)
    assert real.code == 0, str(real)
    assert (ws.lake / "gold" / "so_daily_sales" / partition(JAN_1) / "data.parquet").exists()


@pytest.mark.luigid
def test_runs_on_two_lakes_sharing_one_luigid_both_build(tmp_path, luigid):
    where = ("--scheduler-host", luigid.host, "--scheduler-port", str(luigid.port))
    first, second = Workspace(tmp_path / "dev"), Workspace(tmp_path / "prod")
    for ws in (first, second):
        ws.land(JAN_1)
        run = ws.run("so", "--date", "2026-01-01", *where)
        assert run.code == 0, str(run)
        assert (ws.lake / "gold" / "so_daily_sales" / partition(JAN_1) / "data.parquet").exists()


SECRET = "SECRETdistinct123"


@pytest.mark.s3
def test_credentials_never_reach_console_log_manifest_or_run_records(tmp_path, s3_env,
                                                                      s3fs_client):
    ws = Workspace(tmp_path, lake=f"s3://{s3_env}/lake")
    ws.land(JAN_1)
    runs = [ws.run("so", "--date", "2026-01-01", AWS_SECRET_ACCESS_KEY=SECRET),
            ws.run("so", "--date", "2026-01-02", AWS_SECRET_ACCESS_KEY=SECRET)]  # missing file
    assert [r.code for r in runs] == [0, 4], "\n".join(map(str, runs))
    fs = s3fs_client
    ops = fs.find(f"{s3_env}/lake/_ops")
    assert any("/runs/so/" in k for k in ops) and any("/manifests/so/" in k for k in ops)
    texts = {k: fs.cat_file(k).decode() for k in ops}
    texts.update({str(p): p.read_text() for p in ws.logs.rglob("*.log")})
    texts.update({f"console {i}": r.output for i, r in enumerate(runs)})
    assert len([k for k in texts if k.endswith(".log") and "/logs/so/" in k]) == 2
    assert [k for k, text in texts.items() if SECRET in text] == []
