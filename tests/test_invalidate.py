"""``etl-targets invalidate``: removing a stage's dates and everything built from them.

Where it is about the command, the tests run it as a subprocess the way an
operator does and look at the exit status, what it printed and the files
left in the lake. Where it is about which tasks depend on which, they call
:mod:`etl_targets.graph.downstream` directly, including with a task class
defined here that the library has never heard of. Expected paths are
written out from the data contract (``support.lakes``), not taken from the
code under test.

January 1..15 of the sample is built once for the module; every test that
changes a lake works on its own copy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Dict, List, Set, Tuple

import luigi
import pyarrow.parquet as pq
import pytest

from etl_targets.datasets import DATASETS
from etl_targets.errors import StorageError
from etl_targets.graph import downstream
from etl_targets.graph.registry import TASKS
from etl_targets.graph.tasks import DatedTask
from etl_targets.lake import storage
from etl_targets.lake.targets import LakeTarget
from support.cli import Run, etl_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing
from support.lakes import contract_paths, roots
from support.s3 import s3_client_fs

SO = DATASETS["so"]
JAN = [dt.date(2026, 1, day) for day in range(1, 32)]
JAN_10 = dt.date(2026, 1, 10)
BUILT = JAN[:15]  # the module's lake holds January 1..15
MOVED = re.compile(r"^moved (\d+) files? to (\S+)/_trash/(\S+); to undo, move them back$", re.M)

Files = Dict[str, Tuple[int, int, str]]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def files(root: Path) -> Files:
    """Every file below ``root``: relative path -> (inode, mtime_ns, sha256 of the bytes)."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (
                stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def data_files(found: Files) -> Files:
    """Without the run records (``_ops``) and the trash: the lake's data."""
    return {rel: v for rel, v in found.items() if not rel.startswith(("_ops/", "_trash/"))}


def path(kind: str, day: dt.date) -> str:
    """The contract's relative path of one output kind (``silver``, ``mtd``...) of ``day``."""
    return contract_paths(day)[kind]


def silver_of_the_10th() -> Set[str]:
    """What invalidating the silver of January 10 removes from a lake built through the 15th."""
    return ({path("silver", JAN_10), path("rejects", JAN_10), path("daily", JAN_10)}
            | {path("mtd", day) for day in JAN[9:15]})


def listed(run: Run, lake: str) -> Set[str]:
    """The files a run listed (one per line, as URLs under ``lake``), relative to the lake."""
    prefix = lake.rstrip("/") + "/"
    return {line.strip()[len(prefix):] for line in run.stdout.splitlines()
            if line.strip().startswith(prefix)}


def relative(outputs: List[downstream.Output]) -> List[str]:
    return [output.relative for output in outputs]


def names(tasks) -> Set[str]:
    return {f"{task.task_family}({task.date.isoformat()})" for task in tasks}


@dataclasses.dataclass
class Workspace:
    """A lake (folder or ``s3://`` URL), the module's landing area, logs and an empty cwd."""

    root: Path
    landing: Path
    lake: str

    def run(self, *args: str) -> Run:
        cwd = self.root / "cwd"
        cwd.mkdir(parents=True, exist_ok=True)
        env = cli_environment(self.lake, self.landing, self.root / "logs")
        return Run.of(run_command(etl_argv(*args), cwd=cwd, env=env, timeout=180))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Workspace:
    """A local lake with January 1..15 of the sample built by ``etl-targets so``."""
    root = tmp_path_factory.mktemp("built")
    copy_landing(root / "landing", *BUILT)
    ws = Workspace(root, root / "landing", str(root / "lake"))
    done = ws.run("so", "--start", "2026-01-01", "--end", "2026-01-15")
    assert done.code == 0, str(done)
    return ws


def copy_of(ws: Workspace, root: Path) -> Workspace:
    """Another workspace over a copy of ``ws``'s lake (mtimes kept), sharing its landing area."""
    shutil.copytree(ws.lake, root / "lake", copy_function=shutil.copy2)
    return Workspace(root, ws.landing, str(root / "lake"))


# --------------------------------------------------------------------------
# Invalidating the silver of the 10th: dry run, then for real, then a rebuild
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SilverOfThe10th:
    ws: Workspace
    before: Files
    dry: Run
    after_dry: Files
    landing_before: Files
    real: Run
    after_real: Files
    landing_after: Files
    rebuild: Run
    after_rebuild: Files

    @property
    def lake(self) -> Path:
        return Path(self.ws.lake)

    @property
    def trash(self) -> str:
        """``_trash/<run_id>``, from the real run's last line."""
        match = MOVED.search(self.real.stdout)
        assert match, str(self.real)
        return f"_trash/{match.group(3)}"


@pytest.fixture(scope="module")
def silver_10(built, tmp_path_factory) -> SilverOfThe10th:
    ws = copy_of(built, tmp_path_factory.mktemp("silver10"))
    args = ("invalidate", "so", "--date", "2026-01-10", "--stage", "silver")
    before = files(Path(ws.lake))
    dry = ws.run(*args, "--dry-run")
    after_dry, landing_before = files(Path(ws.lake)), files(ws.landing)
    real = ws.run(*args)
    after_real, landing_after = files(Path(ws.lake)), files(ws.landing)
    rebuild = ws.run("so", "--start", "2026-01-01", "--end", "2026-01-15")
    return SilverOfThe10th(ws, before, dry, after_dry, landing_before, real, after_real,
                           landing_after, rebuild, files(Path(ws.lake)))


def test_dry_run_lists_silver_rejects_daily_gold_and_month_to_date_through_the_last_built_date(
        silver_10):
    assert silver_10.dry.code == 0, str(silver_10.dry)
    assert listed(silver_10.dry, silver_10.ws.lake) == silver_of_the_10th()


def test_dry_run_ends_with_the_number_of_files_and_dates(silver_10):
    assert "9 files of 6 dates" in silver_10.dry.stdout.splitlines()


def test_dry_run_changes_no_file_bytes_or_mtime(silver_10):
    assert silver_10.after_dry == silver_10.before


def test_invalidate_exits_0_and_says_where_the_files_went_and_how_to_undo(silver_10):
    assert silver_10.real.code == 0, str(silver_10.real)
    match = MOVED.search(silver_10.real.stdout)
    assert match and match.group(1) == "9" and match.group(2) == silver_10.ws.lake


def test_invalidate_prints_the_list_before_moving(silver_10):
    assert listed(silver_10.real, silver_10.ws.lake) == silver_of_the_10th()


def test_invalidated_files_are_gone_from_their_places(silver_10):
    assert silver_of_the_10th() & set(silver_10.after_real) == set()


def test_invalidated_files_are_in_the_trash_under_their_own_paths_with_identical_bytes(silver_10):
    trash = silver_10.trash + "/"
    in_trash = {rel[len(trash):]: sha for rel, (_, _, sha) in silver_10.after_real.items()
                if rel.startswith(trash)}
    assert in_trash == {rel: silver_10.before[rel][2] for rel in silver_of_the_10th()}


def test_invalidate_moves_nothing_else(silver_10):
    kept = {rel: v for rel, v in silver_10.before.items() if rel not in silver_of_the_10th()}
    assert {rel: v for rel, v in silver_10.after_real.items()
            if not rel.startswith("_trash/")} == kept


def test_invalidate_leaves_the_landing_area_byte_identical(silver_10):
    assert silver_10.landing_after == silver_10.landing_before


def test_rebuild_after_invalidate_rebuilds_exactly_the_invalidated_outputs(silver_10):
    assert silver_10.rebuild.code == 0, str(silver_10.rebuild)
    before, after = data_files(silver_10.before), data_files(silver_10.after_rebuild)
    assert set(after) == set(before)
    rewritten = {rel for rel in after if after[rel][:2] != before[rel][:2]}
    assert rewritten == silver_of_the_10th()


def test_rebuild_after_invalidating_silver_does_not_rebuild_bronze(silver_10):
    bronze = {rel for rel in silver_10.before if rel.startswith("bronze/")}
    assert {rel: silver_10.after_rebuild[rel] for rel in bronze} == \
        {rel: silver_10.before[rel] for rel in bronze}


def test_rebuilt_tables_equal_the_ones_in_the_trash(silver_10):
    for rel in sorted(silver_of_the_10th()):
        rebuilt = pq.read_table(silver_10.lake / rel)
        assert rebuilt.equals(pq.read_table(silver_10.lake / silver_10.trash / rel)), rel


# --------------------------------------------------------------------------
# Other stages, ranges, nothing to do, bad arguments (the command)
# --------------------------------------------------------------------------

def test_default_stage_bronze_adds_the_bronze_file_and_manifest_of_the_date(built):
    dry = built.run("invalidate", "so", "--date", "2026-01-10", "--dry-run")
    assert dry.code == 0, str(dry)
    assert listed(dry, built.lake) == silver_of_the_10th() | {path("bronze", JAN_10),
                                                               path("manifest", JAN_10)}


def test_date_with_nothing_built_exits_0_and_says_nothing_to_invalidate(built, tmp_path):
    ws = copy_of(built, tmp_path)
    before = files(Path(ws.lake))
    run = ws.run("invalidate", "so", "--date", "2026-01-20")
    assert run.code == 0, str(run)
    assert "nothing to invalidate" in run.stdout
    assert files(Path(ws.lake)) == before


def test_stage_that_is_not_a_gold_table_of_the_dataset_exits_2(built):
    run = built.run("invalidate", "so", "--date", "2026-01-10", "--stage", "po_daily")
    assert run.code == 2, str(run)


# --------------------------------------------------------------------------
# Which outputs: the graph, at library level
# --------------------------------------------------------------------------

def test_gold_table_stage_is_only_that_tables_date(built):
    lake_roots = roots(built.lake, built.landing)
    outputs = downstream.invalidation(SO, "so_daily_sales", [JAN_10], lake_roots)
    assert relative(outputs) == [path("daily", JAN_10)]


def test_range_is_every_date_of_the_range_and_what_reads_them(built):
    days = JAN[4:7]
    outputs = downstream.invalidation(SO, "silver", days, roots(built.lake, built.landing))
    expected = {path(kind, day) for day in days for kind in ("silver", "rejects", "daily")}
    assert set(relative(outputs)) == expected | {path("mtd", day) for day in JAN[4:15]}


def test_outputs_come_dependents_first_and_completion_signal_first(built):
    lake_roots = roots(built.lake, built.landing)
    order = relative(downstream.invalidation(SO, "bronze", [JAN_10], lake_roots))
    at = {kind: order.index(path(kind, JAN_10)) for kind in contract_paths(JAN_10)}
    assert max(at["daily"], at["mtd"]) < at["silver"] < at["rejects"]
    assert at["rejects"] < at["manifest"] < at["bronze"]


def test_downstream_of_silver_is_its_daily_gold_and_the_month_to_date_of_the_rest_of_the_month(
        tmp_path):
    start = TASKS["SilverSO"](date=JAN_10, **roots(tmp_path / "lake", tmp_path / "landing"))
    found = {name for name in names(downstream.downstream([start]))
             if name.startswith("GoldSO")}
    expected = {"GoldSO(2026-01-10)"} | {f"GoldSOMTD({day.isoformat()})" for day in JAN[9:]}
    expected.add("GoldSORevenueUSD(2026-01-10)")  # reads so_daily_sales of its own day
    assert found == expected


def test_downstream_of_so_silver_includes_the_cross_dataset_days_of_cover_that_read_it(tmp_path):
    start = TASKS["SilverSO"](date=JAN_10, **roots(tmp_path / "lake", tmp_path / "landing"))
    cover = {name for name in names(downstream.downstream([start]))
             if name.startswith("GoldInvCover")}
    assert cover == {f"GoldInvCover({day.isoformat()})" for day in JAN[9:16]}


class TrailingSO3(DatedTask):
    """A table of the three days before ``date``: a window no library code knows of."""

    dataset = SO

    def requires(self):
        return [self.clone(TASKS["SilverSO"], date=self.date - dt.timedelta(days=n))
                for n in (1, 2, 3)]

    def output(self) -> LakeTarget:
        return self.lake_target(LakeTarget, f"gold/so_trailing_3/date={self.date}/data.txt",
                                "gold/so_trailing_3")

    def run(self) -> None:
        self.output().write_bytes(b"three days\n")


def test_downstream_finds_a_trailing_window_from_its_requires_across_the_month_end(tmp_path):
    start = TASKS["SilverSO"](date=JAN[29], **roots(tmp_path / "lake", tmp_path / "landing"))
    found = downstream.downstream([start], classes=[*TASKS.values(), TrailingSO3])
    trailing = {name for name in names(found) if name.startswith("TrailingSO3")}
    assert trailing == {"TrailingSO3(2026-01-31)", "TrailingSO3(2026-02-01)",
                        "TrailingSO3(2026-02-02)"}


def test_invalidation_takes_a_built_trailing_table_only_where_its_window_holds_the_date(
        built, tmp_path, luigi_build):
    ws = copy_of(built, tmp_path)
    lake_roots = roots(ws.lake, ws.landing)
    done = luigi_build([TrailingSO3(date=day, **lake_roots) for day in (JAN[11], JAN[13])])
    assert done.status == luigi.LuigiStatusCode.SUCCESS
    outputs = downstream.invalidation(SO, "silver", [JAN_10], lake_roots,
                                      classes=[*TASKS.values(), TrailingSO3])
    trailing = [rel for rel in relative(outputs) if rel.startswith("gold/so_trailing_3/")]
    assert trailing == ["gold/so_trailing_3/date=2026-01-12/data.txt"]


def test_a_failed_move_raises_storage_error_naming_the_file(tmp_path):
    fs, folder = storage.filesystem(str(tmp_path))
    with pytest.raises(StorageError, match="absent.parquet"):
        downstream.move(fs, storage.join(folder, "absent.parquet"),
                        storage.join(folder, "_trash", "absent.parquet"))


# --------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------

def objects(fs, root: str) -> Dict[str, bytes]:
    """Every object below ``root`` (``bucket/prefix/``): key relative to it -> bytes."""
    return {key[len(root):]: data for key, data in fs.cat(fs.find(root)).items()}


@pytest.mark.s3
def test_invalidate_on_s3_moves_the_files_into_the_trash_with_identical_bytes(s3_env, built):
    fs = s3_client_fs(os.environ["AWS_ENDPOINT_URL"])  # where the test's environment points
    root = f"{s3_env}/lake/"
    fs.put(built.lake + "/", root, recursive=True)  # the module's built lake, uploaded
    before = objects(fs, root)
    ws = Workspace(Path(built.root), built.landing, f"s3://{root}")
    run = ws.run("invalidate", "so", "--date", "2026-01-10", "--stage", "silver")
    assert run.code == 0, str(run)
    trash = f"_trash/{MOVED.search(run.stdout).group(3)}/"
    after = objects(fs, root)
    assert {rel[len(trash):]: data for rel, data in after.items() if rel.startswith(trash)} == \
        {rel: before[rel] for rel in silver_of_the_10th()}
    assert {rel: data for rel, data in after.items() if not rel.startswith("_trash/")} == \
        {rel: data for rel, data in before.items() if rel not in silver_of_the_10th()}
