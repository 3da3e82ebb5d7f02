"""``etl-targets gc``: retention per stage, old trash, abandoned writes; never landing,
``_snapshots/`` or ``_ops/``.

The command runs as a subprocess the way an operator (or a CronJob) runs
it, with a luigi.cfg of the test's own retention, against a lake laid out
by hand from the data contract: dates are counted back from the real
today, far from any boundary. The rules' details (durations, calendar
years, the landing guard, S3 upload ages) are called directly.
"""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import hashlib
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from etl_targets import config
from etl_targets.errors import ConfigError
from etl_targets.lake import leftovers
from etl_targets.lake.context import Area
from etl_targets.runs import retention
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment

RETENTION = """\
[etl_targets]
retention_bronze = 7y
retention_silver = 2y
retention_gold =
retention_trash = 30d
"""
SUMMARY = re.compile(r"^gc: removed (\d+) date partitions?, (\d+) trash folders? \((\d+) files?, "
                     r"(\d+) bytes\), (\d+) abandoned writes?; kept (\d+) date partitions?, "
                     r"(\d+) trash folders?$", re.M)
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63]


def run_id(moment: dt.datetime) -> str:
    """A run id as the contract spells it: UTC start to the millisecond, then 8 hex."""
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z-0123abcd"


@dataclasses.dataclass
class FakeLake:
    """Files (relative path -> bytes) of a lake, and which of them gc must remove."""

    files: Dict[str, bytes]
    expired: set

    @classmethod
    def around(cls, today: dt.date, now: dt.datetime) -> "FakeLake":
        old_bronze, young_bronze = today.replace(year=today.year - 8, day=1), today - dt.timedelta(10)
        old_silver, young_silver = today - dt.timedelta(3 * 366), today - dt.timedelta(365)
        old_run, young_run = run_id(now - dt.timedelta(days=40)), run_id(now - dt.timedelta(days=5))
        expired = {
            f"bronze/so/date={old_bronze}/_manifest.json": b"{}",
            f"bronze/so/date={old_bronze}/zheSO-old.csv": b"raw,old\n",
            f"silver/so/date={old_silver}/data.parquet": b"PAR1 old silver",
            f"silver/so_rejects/date={old_silver}/data.parquet": b"PAR1 old rejects",
            f"_trash/{old_run}/gold/so_daily_sales/date={young_silver}/data.parquet": b"PAR1 t",
        }
        kept = {
            f"bronze/so/date={young_bronze}/_manifest.json": b"{}",
            f"bronze/so/date={young_bronze}/zheSO-young.csv": b"raw,young\n",
            f"silver/so/date={young_silver}/data.parquet": b"PAR1 young silver",
            "gold/so_daily_sales/date=2000-01-01/data.parquet": b"PAR1 gold is kept forever",
            "bronze/so/notes.txt": b"not a partition",
            "bronze/so/date=someday/x.csv": b"not a date",
            f"_trash/{young_run}/silver/so/date={young_silver}/data.parquet": b"PAR1 recent",
            "_trash/by-hand/data.parquet": b"not a run id",
            "_snapshots/golden/_manifest.json": b"{}",
            "_snapshots/golden/gold/so_daily_sales/date=2000-01-01/data.parquet": b"PAR1 snap",
            "_ops/runs/so/20100101T000000000Z-0123abcd.json": b"{}",
            "_ops/manifests/so/so-2010-01-01.json": b"{}",
            "_ops/failures/so/date=2010-01-01/SilverSO.json": b"{}",
            "_ops/latest/so.json": b"{}",
        }
        return cls({**expired, **kept}, set(expired))

    @property
    def kept(self) -> set:
        return set(self.files) - self.expired

    def write_local(self, root: Path) -> None:
        for rel, data in self.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)

    def write_s3(self, fs, root: str) -> None:
        for rel, data in self.files.items():
            fs.pipe_file(f"{root}/{rel}", data)


def tree(root: Path) -> Dict[str, str]:
    """Every file below ``root``, hidden ones too: relative path -> sha256."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def lines(run: Run, verb: str) -> set:
    """The removal lines of a run with ``verb`` (``removed`` or ``would remove``) taken off."""
    return {line.strip()[len(verb):].strip() for line in run.stdout.splitlines()
            if line.strip().startswith(verb + " ")}


@pytest.fixture
def gc_cfg(tmp_path) -> Path:
    path = tmp_path / "retention.cfg"
    path.write_text(RETENTION)
    return path


def run_gc(tmp_path: Path, cfg: Path, lake: str, landing: str, *args: str) -> Run:
    env = cli_environment(lake, landing, tmp_path / "logs", LUIGI_CONFIG_PATH=str(cfg))
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return Run.of(run_command(etl_argv("gc", *args), cwd=cwd, env=env, timeout=60))


def today_and_now():
    return dt.date.today(), dt.datetime.now(dt.timezone.utc)


# --------------------------------------------------------------------------
# Durations and configuration
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [("30d", (30, "d")), ("12w", (12, "w")),
                                           ("7y", (7, "y")), (" 2Y ", (2, "y"))])
def test_retention_durations_are_days_weeks_or_calendar_years(text, expected):
    age = retention.parse_age(text)
    assert (age.count, age.unit) == expected


@pytest.mark.parametrize("text", ["0d", "7", "3m", "1.5y", "-2d", "forever", ""])
def test_other_durations_are_refused(text):
    with pytest.raises(ValueError):
        retention.parse_age(text)


def test_years_are_calendar_years_and_february_29_falls_back_to_the_28th():
    assert retention.parse_age("2y").before(dt.date(2026, 12, 1)) == dt.date(2024, 12, 1)
    assert retention.parse_age("1y").before(dt.date(2028, 2, 29)) == dt.date(2027, 2, 28)
    assert retention.parse_age("12w").before(dt.date(2026, 12, 1)) == dt.date(2026, 9, 8)


def test_a_malformed_retention_is_a_config_error_naming_its_key():
    with pytest.raises(ConfigError, match="retention_silver"):
        retention.rules({"bronze": "7y", "silver": "two years"})


def test_retention_reads_stage_keys_and_an_env_section_wins_even_when_empty():
    parser = configparser.ConfigParser()
    parser.read_string(RETENTION + "[etl_targets.dev]\nretention_bronze = 30d\n"
                                   "retention_trash =\n")
    assert config.retention(config=parser) == {"bronze": "7y", "silver": "2y", "gold": None,
                                               "trash": "30d"}
    assert config.retention("dev", config=parser) == {"bronze": "30d", "silver": "2y",
                                                      "gold": None, "trash": None}
    with pytest.raises(ConfigError, match="prod"):
        config.retention("prod", config=parser)


# --------------------------------------------------------------------------
# A local lake
# --------------------------------------------------------------------------

def make_local_lake(root: Path, landing_position: str):
    """A fake lake, a landing root inside it (``{lake}/landing``) or next to it, and
    temporary files in a kept partition: a dead writer's and a live one's."""
    lake = root / "lake"
    fake = FakeLake.around(*today_and_now())
    fake.write_local(lake)
    landing = lake / "landing" if landing_position == "inside" else root / "landing"
    for name in ("zheSO-2010-1-1.csv", "zheSO-2026-1-1.csv"):
        (landing / "so").mkdir(parents=True, exist_ok=True)
        (landing / "so" / name).write_text("Order,Line\n1,1\n")
    (landing / "so" / "date=2010-01-01").mkdir()
    (landing / "so" / "date=2010-01-01" / "data.parquet").write_bytes(b"looks like a partition")
    folder = lake / next(rel for rel in fake.kept if rel.startswith("silver/")).rsplit("/", 1)[0]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = folder / f".data.parquet.{gone.pid}-{HOST}-0badc0de.tmp"
    live = folder / f".data.parquet.{os.getpid()}-{HOST}-00c0ffee.tmp"
    dead.write_bytes(b"half")
    live.write_bytes(b"being written")
    return lake, landing, fake, dead, live


@dataclasses.dataclass
class LocalGc:
    """A dry run, then a real run, of ``gc`` over :func:`make_local_lake`."""

    lake: Path
    landing: Path
    fake: FakeLake
    dead: Path
    live: Path
    before: Dict[str, tuple]
    landing_before: Dict[str, str]
    dry: Run
    after_dry: Dict[str, tuple]
    real: Run
    after: Dict[str, str]
    landing_after: Dict[str, str]


@pytest.fixture(scope="module", params=["inside", "beside"])
def local_gc(request, tmp_path_factory, lake_snapshot) -> LocalGc:
    root = tmp_path_factory.mktemp(f"gc-{request.param}")
    cfg = root / "retention.cfg"
    cfg.write_text(RETENTION)
    lake, landing, fake, dead, live = make_local_lake(root, request.param)
    before, landing_before = lake_snapshot(lake), tree(landing)
    dry = run_gc(root, cfg, str(lake), str(landing), "--dry-run")
    after_dry = lake_snapshot(lake)
    real = run_gc(root, cfg, str(lake), str(landing))
    return LocalGc(lake, landing, fake, dead, live, before, landing_before, dry, after_dry, real,
                   tree(lake), tree(landing))


def test_gc_removes_expired_partitions_and_old_trash_and_nothing_else(local_gc):
    assert local_gc.real.code == 0, str(local_gc.real)
    left = {rel for rel in local_gc.after if not rel.startswith("landing/")}
    assert left == local_gc.fake.kept | {local_gc.live.relative_to(local_gc.lake).as_posix()}


def test_gc_leaves_the_landing_area_inside_or_beside_the_lake_byte_identical(local_gc):
    assert local_gc.landing_after == local_gc.landing_before


def test_gc_never_touches_snapshots_or_ops_records(local_gc):
    kept = {rel for rel in local_gc.fake.files if rel.startswith(("_snapshots/", "_ops/"))}
    assert {rel: local_gc.after[rel] for rel in kept} == \
        {rel: hashlib.sha256(local_gc.fake.files[rel]).hexdigest() for rel in kept}


def test_gc_leaves_no_empty_folder_of_a_removed_partition(local_gc):
    folders = {str(Path(rel).parent) for rel in local_gc.fake.expired}
    assert [folder for folder in folders if (local_gc.lake / folder).exists()] == []


def test_gc_prints_each_removal_and_one_summary_line(local_gc):
    removed = {line.split(" (", 1)[0] for line in lines(local_gc.real, "removed")
               if not line.startswith("abandoned")}
    depth = {True: 2, False: 3}
    expected = {"/".join(rel.split("/")[:depth[rel.startswith("_trash/")]]) + "/"
                for rel in local_gc.fake.expired}
    assert removed == expected
    summary = SUMMARY.findall(local_gc.real.stdout)
    assert len(summary) == 1, str(local_gc.real)
    assert summary[0] == ("3", "1", "5", summary[0][3], "1", "3", "1")


def test_gc_removes_a_dead_writers_temporary_file_but_not_a_live_ones(local_gc):
    assert f"removed abandoned write {local_gc.dead}" in local_gc.real.stdout
    assert not local_gc.dead.exists() and local_gc.live.exists()


def test_dry_run_changes_nothing_and_lists_what_the_real_run_removes(local_gc):
    assert local_gc.dry.code == 0, str(local_gc.dry)
    assert local_gc.after_dry == local_gc.before
    assert "nothing was removed" in local_gc.dry.stdout
    folders = [{line for line in lines(run, verb) if "abandoned" not in line}
               for run, verb in ((local_gc.dry, "would remove"), (local_gc.real, "removed"))]
    assert folders[0] == folders[1] != set()


def test_dry_run_names_every_temporary_file_the_sweep_will_judge(local_gc):
    assert {line for line in lines(local_gc.dry, "would remove") if "abandoned" in line} == {
        f"if abandoned: {local_gc.dead}", f"if abandoned: {local_gc.live}"}


def test_gc_of_an_empty_lake_exits_0_and_says_so(capsys):
    from etl_targets.cli import main

    assert main(["gc"]) == 0
    summary = SUMMARY.search(capsys.readouterr().out)
    assert summary and summary.groups() == ("0", "0", "0", "0", "0", "0", "0")


# --------------------------------------------------------------------------
# The landing guard
# --------------------------------------------------------------------------

def test_a_landing_root_inside_a_stage_folder_is_never_touched(tmp_path):
    lake, drop = tmp_path / "lake", tmp_path / "lake" / "bronze" / "drop"
    (drop / "date=2010-01-01").mkdir(parents=True)
    (drop / "date=2010-01-01" / "zheSO-2010-1-1.csv").write_text("a\n")
    today, now = today_and_now()
    found = retention.plan(Area(str(lake)), retention.rules({"bronze": "7y"}), today, now,
                           landing=Area(str(drop)))
    assert found.removals == []
    assert found.skipped == ["bronze/drop/date=2010-01-01: inside the landing root, never touched"]


def test_gc_refuses_a_landing_root_that_is_the_lake_root(tmp_path):
    today, now = today_and_now()
    with pytest.raises(ConfigError, match="landing root is the lake root"):
        retention.plan(Area(str(tmp_path)), {}, today, now, landing=Area(str(tmp_path)))


# --------------------------------------------------------------------------
# S3 (moto)
# --------------------------------------------------------------------------

@pytest.fixture
def s3_lake(s3_env, s3fs_client):
    """The fake lake in a fresh bucket, with a landing root inside it."""
    fake = FakeLake.around(*today_and_now())
    fake.write_s3(s3fs_client, f"{s3_env}/lake")
    s3fs_client.pipe_file(f"{s3_env}/lake/landing/so/zheSO-2010-1-1.csv", b"Order\n1\n")
    return f"s3://{s3_env}/lake", fake


def s3_keys(fs, lake: str) -> set:
    root = lake[len("s3://"):]
    return {path[len(root) + 1:] for path in fs.find(root)}


@pytest.mark.s3
def test_gc_on_s3_removes_what_expired_with_one_listing_per_prefix(s3_lake, s3fs_client,
                                                                   s3_requests, tmp_path, gc_cfg):
    from support.s3 import listed_prefixes

    lake, fake = s3_lake
    s3_requests.mark()
    run = run_gc(tmp_path, gc_cfg, lake, f"{lake}/landing")
    requests = s3_requests()
    assert run.code == 0, str(run)
    assert s3_keys(s3fs_client, lake) == fake.kept | {"landing/so/zheSO-2010-1-1.csv"}
    assert sorted(listed_prefixes(requests)) == ["lake/_trash/", "lake/bronze/", "lake/gold/",
                                                 "lake/silver/"], requests


@pytest.mark.s3
def test_gc_dry_run_on_s3_sends_no_write_request(s3_lake, s3_requests):
    lake, fake = s3_lake
    area = Area(lake)
    s3_requests.mark()
    found = retention.plan(area, retention.rules({"bronze": "7y", "silver": "2y", "trash": "30d"}),
                           *today_and_now(), landing=Area(f"{lake}/landing"))
    retention.sweep(area, found, dry_run=True)
    assert s3_requests.writes() == []
    assert {path for r in found.removals for path in r.files} == \
        {area.join(rel) for rel in fake.expired}


@pytest.mark.s3
def test_gc_on_s3_aborts_unfinished_uploads_below_the_stages_once_a_day_old(s3_env, s3fs_client,
                                                                           monkeypatch):
    """moto reports every upload as initiated in 2010: old enough, unless the age is raised."""
    lake = Area(f"s3://{s3_env}/lake")
    for key in ("lake/silver/so/date=2026-11-01/data.parquet", "lake/_snapshots/s/x.parquet"):
        s3fs_client.call_s3("create_multipart_upload", Bucket=s3_env, Key=key)

    def uploads():
        answer = s3fs_client.call_s3("list_multipart_uploads", Bucket=s3_env)
        return sorted(upload["Key"] for upload in answer.get("Uploads", []))

    found = retention.plan(lake, {}, *today_and_now())
    with monkeypatch.context() as patch:
        patch.setattr(leftovers, "UNOWNED_TEMP_AGE", 1e12)  # younger than that: a live writer's
        assert retention.sweep(lake, found) == []
    assert len(retention.sweep(lake, found, dry_run=True)) == 1
    assert len(uploads()) == 2
    swept = retention.sweep(lake, found)
    assert [entry.split(" ")[0] for entry in swept] == [
        f"s3://{s3_env}/lake/silver/so/date=2026-11-01/data.parquet"]
    assert uploads() == ["lake/_snapshots/s/x.parquet"]
