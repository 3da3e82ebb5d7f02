"""A dataset declared outside the package, built end to end without touching the library.

A temporary folder holds a user's package (``acme_etl``: a toy dataset of
three columns and one gold table ``GoldToy``), a luigi.cfg naming it in
``[etl_targets] datasets``, and landing files. The toy is then built the
two ways an operator would: ``python -m etl_targets toy --date D`` and
``luigi --module acme_etl GoldToy --date D``, both as subprocesses with the
folder on ``PYTHONPATH``. A second package is found through an
``etl_targets.datasets`` entry point (a ``dist-info`` folder on the path),
and a third one, clashing with SO, is refused naming both.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.cli import LUIGI, etl_argv, explain, run_command

TOY_MODULE = '''
"""A user's datasets: declared with etl_targets' public API, registered on import."""
from etl_targets import Column, Dataset, GoldTable, Integer, Measure, Text, register

TOY = Dataset(
    code="TOY", folder="toy", file_prefix="zheTOY",
    columns=(Column("Toy ID", "toy_id", Text()),
             Column("Kind", "kind", Text(upper=True)),
             Column("Qty", "qty", Integer(minimum=1))),
    dedup_keys=("toy_id",),
    gold=(GoldTable(name="toy_by_kind", task="GoldToy", group_by=("kind",),
                    measures=(Measure("toys", "count"), Measure("qty", "sum", "qty"))),),
)
register(TOY)
'''

WIDGET_MODULE = '''
"""Datasets handed over by a callable named in an entry point (nothing registered on import)."""
from etl_targets import Column, Dataset, GoldTable, Measure, Text


def datasets():
    return [Dataset(code="WIDGET", folder="widget", file_prefix="zheWIDGET",
                    columns=(Column("Widget", "widget", Text()),),
                    dedup_keys=("widget",),
                    gold=(GoldTable(name="widget_count", task="GoldWidget",
                                    group_by=("widget",), measures=(Measure("n", "count"),)),))]
'''

CLASH_MODULE = TOY_MODULE.replace('code="TOY", folder="toy", file_prefix="zheTOY"',
                                  'code="CLASH", folder="clash", file_prefix="zheCLASH"'
                                  ).replace('task="GoldToy"', 'task="GoldSO"')

LUIGI_CFG = '''
[etl_targets]
landing_root = landing
lake_root = lake
log_dir = logs
datasets = {datasets}

[SilverTOY]
# the toy's files are tiny: one bad row of four
max_reject_ratio = 0.5

[core]
autoload_range = false
no_lock = true

[retcode]
already_running = 10
missing_data = 20
not_run = 25
task_failed = 30
scheduling_error = 35
unhandled_exception = 40
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


class Project:
    """A user's working folder: packages, luigi.cfg, landing files, and the commands run in it."""

    def __init__(self, root: Path, datasets: str = "acme_etl"):
        self.root = root
        write(root / "code" / "acme_etl" / "__init__.py", TOY_MODULE)
        write(root / "luigi.cfg", LUIGI_CFG.format(datasets=datasets))
        self.path = [root / "code"]

    def land(self, name: str, text: str) -> None:
        folder = name.split("-")[0][3:].lower()
        write(self.root / "landing" / folder / name, text)

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in self.path)
        env["LUIGI_CONFIG_PATH"] = str(self.root / "luigi.cfg")
        return env

    def run(self, argv):
        return run_command(argv, cwd=self.root, env=self.environment())

    def gold(self, table: str, day: str):
        return pq.read_table(self.root / "lake" / "gold" / table / f"date={day}" /
                             "data.parquet").to_pylist()


TOYS = """
Toy ID,Kind,Qty
T1, ball ,2
T2,Ball,3
T3,kite,x
T1,ball,5
"""


@pytest.fixture
def project(tmp_path) -> Project:
    found = Project(tmp_path)
    found.land("zheTOY-2026-3-1.csv", TOYS)
    found.land("zheTOY-2026-3-2.csv", TOYS)
    return found


def test_etl_targets_builds_a_dataset_named_in_luigi_cfg(project):
    done = project.run(etl_argv("toy", "--date", "2026-03-01"))
    assert done.returncode == 0, explain(done)
    assert project.gold("toy_by_kind", "2026-03-01") == [{"kind": "BALL", "toys": 2, "qty": 8}]
    rejects = pq.read_table(project.root / "lake" / "silver" / "toy_rejects" / "date=2026-03-01" /
                            "data.parquet")
    assert rejects.column("reject_reason").to_pylist() == ["Qty: not a whole number"]


def test_luigi_module_of_the_users_package_finds_its_gold_task(project):
    done = project.run([str(LUIGI), "--module", "acme_etl", "GoldToy", "--date", "2026-03-02",
                        "--local-scheduler"])
    assert done.returncode == 0, explain(done)
    assert project.gold("toy_by_kind", "2026-03-02") == [{"kind": "BALL", "toys": 2, "qty": 8}]


def test_a_missing_landing_file_of_the_users_dataset_is_named(project):
    done = project.run(etl_argv("toy", "--date", "2026-03-03"))
    assert done.returncode == 4, explain(done)
    assert "zheTOY-2026-3-3.csv" in done.stderr


def test_the_users_dataset_gets_its_subcommand(project):
    done = project.run(etl_argv("--help"))
    assert "toy" in done.stdout, explain(done)


def test_an_entry_point_names_a_callable_returning_datasets(project):
    installed = project.root / "site"
    write(installed / "acme_widgets.py", WIDGET_MODULE)
    write(installed / "acme_widgets-1.0.dist-info" / "METADATA",
          "Metadata-Version: 2.1\nName: acme-widgets\nVersion: 1.0\n")
    write(installed / "acme_widgets-1.0.dist-info" / "entry_points.txt",
          "[etl_targets.datasets]\nwidgets = acme_widgets:datasets\n")
    project.path.append(installed)
    project.land("zheWIDGET-2026-3-1.csv", "Widget\nw1\nw2\nw1\n")
    done = project.run(etl_argv("widget", "--date", "2026-03-01"))
    assert done.returncode == 0, explain(done)
    assert project.gold("widget_count", "2026-03-01") == [{"widget": "w1", "n": 1},
                                                          {"widget": "w2", "n": 1}]


def test_a_dataset_clashing_with_a_registered_one_is_refused_naming_both(tmp_path):
    clashing = Project(tmp_path, datasets="acme_clash")
    write(tmp_path / "code" / "acme_clash" / "__init__.py", CLASH_MODULE)
    done = clashing.run(etl_argv("so", "--date", "2026-03-01"))
    assert done.returncode != 0, explain(done)
    assert "cannot register dataset 'clash'" in done.stderr
    assert "GoldSO" in done.stderr and "so_daily_sales of dataset 'so'" in done.stderr
    assert not (tmp_path / "lake").exists()
