"""``etl-targets snapshot create|list|verify``: golden copies of the published gold tables.

January 1..3 of the sample is built once for the module with ``etl-targets
so``; every test works on its own copy of that lake. The snapshot commands
run in this process through ``main(argv)`` (the roots come from
``ETL_LAKE_ROOT`` / ``ETL_LANDING_ROOT``, as in a shell); rebuilds and
invalidations run as subprocesses, the way an operator runs them. Expected
paths are written out from the data contract.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict

import pandas as pd
import pytest

from etl_targets.cli import main
from etl_targets.datasets import DATASETS
from etl_targets.errors import StorageError
from etl_targets.runs import snapshots
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing, landing_name

DAYS = [dt.date(2026, 1, day) for day in (1, 2, 3)]
TABLES = ("so_daily_sales", "so_mtd_by_region")


def tree(root: Path) -> Dict[str, str]:
    """Every file below ``root``: relative path -> sha256."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def gold_paths() -> set:
    """The contract's published gold files of the built days."""
    return {f"gold/{table}/date={day.isoformat()}/data.parquet" for table in TABLES for day in DAYS}


@dataclasses.dataclass
class Workspace:
    root: Path
    lake: Path
    landing: Path

    def run(self, *args: str) -> Run:
        cwd = self.root / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        env = cli_environment(self.lake, self.landing, self.root / "logs")
        return Run.of(run_command(etl_argv(*args), cwd=cwd, env=env, timeout=180))

    def snapshot(self, name: str) -> Path:
        return self.lake / "_snapshots" / name


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("snapshots-built")
    copy_landing(root / "landing", *DAYS)
    ws = Workspace(root, root / "lake", root / "landing")
    done = ws.run("so", "--start", DAYS[0].isoformat(), "--end", DAYS[-1].isoformat())
    assert done.code == 0, str(done)
    return ws


@pytest.fixture
def ws(built, tmp_path, monkeypatch) -> Workspace:
    """A copy of the built lake and its landing area; the ETL_* roots point at them."""
    shutil.copytree(built.lake, tmp_path / "lake", copy_function=shutil.copy2)
    shutil.copytree(built.landing, tmp_path / "landing")
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_LANDING_ROOT", str(tmp_path / "landing"))
    return Workspace(tmp_path, tmp_path / "lake", tmp_path / "landing")


def etl(capsys, *argv: str):
    """``main(argv)`` in this process: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------

def test_create_copies_every_published_gold_partition_byte_for_byte(ws, capsys):
    code, out, _ = etl(capsys, "snapshot", "create", "q1-close")
    assert code == 0, out
    copied = tree(ws.snapshot("q1-close"))
    assert set(copied) == gold_paths() | {"_manifest.json"}
    assert {rel: copied[rel] for rel in gold_paths()} == \
        {rel: sha for rel, sha in tree(ws.lake).items() if rel in gold_paths()}


def test_manifest_lists_each_file_with_its_relative_path_bytes_and_sha256(ws, capsys):
    etl(capsys, "snapshot", "create", "golden", "--datasets", "so")
    manifest = json.loads((ws.snapshot("golden") / "_manifest.json").read_text())
    expected = [{"path": rel, "bytes": (ws.lake / rel).stat().st_size,
                 "sha256": hashlib.sha256((ws.lake / rel).read_bytes()).hexdigest()}
                for rel in sorted(gold_paths())]
    assert manifest["files"] == expected
    assert manifest["datasets"] == ["so"] and manifest["tables"] == list(TABLES)
    assert manifest["file_count"] == 6
    assert manifest["total_bytes"] == sum(entry["bytes"] for entry in expected)
    created = dt.datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    assert abs(dt.datetime.now(dt.timezone.utc) - created) < dt.timedelta(minutes=5)


def test_manifest_is_written_after_every_data_file(ws, capsys):
    etl(capsys, "snapshot", "create", "golden")
    folder = ws.snapshot("golden")
    written = {rel: (folder / rel).stat().st_mtime_ns for rel in tree(folder)}
    assert written.pop("_manifest.json") >= max(written.values())


def test_a_create_that_fails_part_way_leaves_no_manifest(ws, capsys, monkeypatch):
    copy = snapshots._copy
    calls = []

    def failing(lake, source, destination):
        calls.append(source)
        if len(calls) == 3:
            raise StorageError("cannot write: disk full")
        return copy(lake, source, destination)

    monkeypatch.setattr(snapshots, "_copy", failing)
    code, _, err = etl(capsys, "snapshot", "create", "broken")
    assert code == 5 and "disk full" in err
    assert not (ws.snapshot("broken") / "_manifest.json").exists()
    assert etl(capsys, "snapshot", "verify", "broken")[0] != 0


def test_snapshot_reads_with_pandas_like_gold_itself(ws, capsys):
    etl(capsys, "snapshot", "create", "golden")
    for table in TABLES:
        snap = pd.read_parquet(ws.snapshot("golden") / "gold" / table)
        gold = pd.read_parquet(ws.lake / "gold" / table)
        assert sorted(snap["date"].astype(str).unique()) == [d.isoformat() for d in DAYS]
        key = list(gold.columns)
        pd.testing.assert_frame_equal(snap.sort_values(key).reset_index(drop=True),
                                      gold.sort_values(key).reset_index(drop=True))


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "-dash", "with space", "x" * 101,
                                  "a..b", ""])
def test_a_name_that_is_not_one_safe_path_segment_exits_2(ws, capsys, name):
    code, _, err = etl(capsys, "snapshot", "create", name)
    assert code == 2, err
    assert not (ws.lake / "_snapshots").exists()


def test_a_name_that_exists_already_exits_2_and_changes_nothing(ws, capsys):
    etl(capsys, "snapshot", "create", "golden")
    before = tree(ws.snapshot("golden"))
    code, _, err = etl(capsys, "snapshot", "create", "golden")
    assert code == 2 and "exists already" in err
    assert tree(ws.snapshot("golden")) == before


def test_unknown_dataset_exits_2_and_a_dataset_without_gold_is_nothing_to_snapshot(ws, capsys):
    assert etl(capsys, "snapshot", "create", "x", "--datasets", "so,nope")[0] == 2
    code, _, err = etl(capsys, "snapshot", "create", "x", "--datasets", "po")
    assert code == 2 and "nothing to snapshot" in err
    assert not ws.snapshot("x").exists()


# --------------------------------------------------------------------------
# list and verify
# --------------------------------------------------------------------------

def test_list_shows_name_created_files_bytes_and_whether_complete(ws, capsys):
    etl(capsys, "snapshot", "create", "golden")
    half = ws.snapshot("half") / "gold" / "so_daily_sales" / "date=2026-01-01"
    half.mkdir(parents=True)
    (half / "data.parquet").write_bytes(b"12345")
    code, out, _ = etl(capsys, "snapshot", "list")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    manifest = json.loads((ws.snapshot("golden") / "_manifest.json").read_text())
    assert rows["golden"] == ["golden", manifest["created_at"], ",".join(DATASETS), "6",
                              str(manifest["total_bytes"]), "complete"]
    assert rows["half"][:6] == ["half", "-", "-", "1", "5", "incomplete"]


def test_verify_of_an_intact_snapshot_exits_0(ws, capsys):
    etl(capsys, "snapshot", "create", "golden")
    code, out, _ = etl(capsys, "snapshot", "verify", "golden")
    assert code == 0 and "every sha256 matches" in out


@pytest.mark.parametrize("damage,message", [
    ("change", "sha256"), ("grow", "bytes"), ("remove", "is missing"), ("add", "not in its manifest")])
def test_verify_names_the_first_bad_file_and_exits_5(ws, capsys, damage, message):
    etl(capsys, "snapshot", "create", "golden")
    rel = sorted(gold_paths())[1]
    path = ws.snapshot("golden") / rel
    if damage == "change":
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "grow":
        path.write_bytes(path.read_bytes() + b"x")
    elif damage == "remove":
        path.unlink()
    else:
        rel = "gold/so_daily_sales/date=2026-01-09/data.parquet"
        (ws.snapshot("golden") / rel).parent.mkdir()
        (ws.snapshot("golden") / rel).write_bytes(b"stray")
    code, _, err = etl(capsys, "snapshot", "verify", "golden")
    assert code == 5 and rel in err and message in err, err


def test_verify_of_an_unknown_snapshot_exits_2_and_of_an_incomplete_one_5(ws, capsys):
    assert etl(capsys, "snapshot", "verify", "nothing-here")[0] == 2
    (ws.snapshot("half") / "gold").mkdir(parents=True)
    (ws.snapshot("half") / "gold" / "x").write_bytes(b"x")
    code, _, err = etl(capsys, "snapshot", "verify", "half")
    assert code == 5 and "incomplete" in err


# --------------------------------------------------------------------------
# A snapshot outlives rebuilds of its dates
# --------------------------------------------------------------------------

def test_snapshot_survives_invalidate_rebuild_and_refresh_byte_for_byte(ws, capsys):
    assert etl(capsys, "snapshot", "create", "golden")[0] == 0
    kept = tree(ws.snapshot("golden"))
    daily = "gold/so_daily_sales/date=2026-01-02/data.parquet"
    inode = (ws.lake / daily).stat().st_ino

    invalidated = ws.run("invalidate", "so", "--date", "2026-01-02")
    assert invalidated.code == 0, str(invalidated)
    rebuilt = ws.run("so", "--start", "2026-01-01", "--end", "2026-01-03")
    assert rebuilt.code == 0, str(rebuilt)
    assert (ws.lake / daily).stat().st_ino != inode  # gold was really written again
    assert tree(ws.snapshot("golden")) == kept
    assert etl(capsys, "snapshot", "verify", "golden")[0] == 0

    corrected = ws.landing / "so" / landing_name(DAYS[2])  # a corrected drop: fewer lines
    lines = corrected.read_text().splitlines(keepends=True)
    corrected.write_text("".join(lines[:len(lines) // 2]))
    refreshed = ws.run("so", "--date", "2026-01-03", "--refresh")
    assert refreshed.code == 0, str(refreshed)
    changed = "gold/so_daily_sales/date=2026-01-03/data.parquet"
    assert tree(ws.lake)[changed] != kept[changed]
    assert tree(ws.snapshot("golden")) == kept
    assert etl(capsys, "snapshot", "verify", "golden")[0] == 0


# --------------------------------------------------------------------------
# S3 (moto)
# --------------------------------------------------------------------------

@pytest.fixture
def s3_gold(built, s3_env, s3fs_client, monkeypatch) -> str:
    """The built lake's gold tables in a fresh bucket; ETL_LAKE_ROOT points there."""
    lake = f"{s3_env}/lake"
    for rel in sorted(gold_paths()):
        s3fs_client.pipe_file(f"{lake}/{rel}", (built.lake / rel).read_bytes())
    s3fs_client.pipe_file(f"{lake}/gold/so_daily_sales/date=2026-01-04/.data.parquet.1-h-0.tmp",
                          b"not published")
    monkeypatch.setenv("ETL_LAKE_ROOT", f"s3://{lake}")
    monkeypatch.setenv("ETL_LANDING_ROOT", f"s3://{s3_env}/landing")
    return lake


@pytest.mark.s3
def test_snapshot_create_list_verify_on_s3(s3_gold, s3fs_client, built, capsys):
    code, out, err = etl(capsys, "snapshot", "create", "golden")
    assert code == 0, out + err
    folder = f"{s3_gold}/_snapshots/golden"
    copied = {path[len(folder) + 1:] for path in s3fs_client.find(folder)}
    assert copied == gold_paths() | {"_manifest.json"}
    for rel in gold_paths():
        assert s3fs_client.cat_file(f"{folder}/{rel}") == (built.lake / rel).read_bytes(), rel
    code, out, _ = etl(capsys, "snapshot", "list")
    assert code == 0 and out.splitlines()[1].split()[0] == "golden"
    assert out.splitlines()[1].split()[-1] == "complete"
    assert etl(capsys, "snapshot", "verify", "golden")[0] == 0
    table = pd.read_parquet(f"s3://{folder}/gold/so_daily_sales")
    assert sorted(table["date"].astype(str).unique()) == [d.isoformat() for d in DAYS]


@pytest.mark.s3
def test_verify_on_s3_names_a_replaced_object(s3_gold, s3fs_client, capsys):
    assert etl(capsys, "snapshot", "create", "golden")[0] == 0
    rel = sorted(gold_paths())[0]
    s3fs_client.pipe_file(f"{s3_gold}/_snapshots/golden/{rel}", b"replaced")
    code, _, err = etl(capsys, "snapshot", "verify", "golden")
    assert code == 5 and rel in err
