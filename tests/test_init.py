"""``etl-targets init DIR``, first the way a new user meets it: from an installed wheel.

The wheel is built with ``pip wheel`` from a clean copy of this checkout
(so no stale ``build/`` folder can leak into it) and installed with
``--no-deps`` into a fresh venv. That venv finds the dependencies (luigi,
pyarrow, ...) through a ``.pth`` file naming this venv's site-packages, so
nothing is downloaded but the build backend; and ``etl_targets`` can only
come from the wheel: a folder named in a ``.pth`` file joins ``sys.path``,
but the ``.pth`` files inside it (this checkout's editable install) are not
run. The commands then run with nothing but ``PATH``, ``HOME`` and ``LANG``
in their environment.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

from support.cli import Run, etl_argv, run_command
from support.lakes import GOLD_TABLES
from support.paths import LUIGI_CFG, REPO, SAMPLE_LANDING

#: what a clean copy of the checkout leaves out: history, environments, outputs
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "data", "logs", "build", "dist",
                                    "*.egg-info", "__pycache__", ".pytest_cache", "bench",
                                    ".benchmarks")
#: the repository's luigi.cfg sections a project folder must share
SHARED_SECTIONS = ("core", "worker", "scheduler", "retcode", "RangeDaily")


def sample_datasets() -> List[str]:
    return sorted(p.name for p in SAMPLE_LANDING.iterdir() if p.is_dir())


def files_below(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def clean_environment(home: Path) -> Dict[str, str]:
    """No ETL_*, no LUIGI_CONFIG_PATH, no virtualenv: a new user's shell."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


# --------------------------------------------------------------------------
# A wheel, a fresh venv with only the wheel installed, a project folder
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCE)
    built = run_command([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                         "-w", str(root / "dist"), str(source)], cwd=root, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = (root / "dist").glob("etl_targets-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A venv holding the wheel; its ``bin/`` folder."""
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    installed = run_command([sys.executable, "-m", "pip", "--python", str(python), "install",
                             "--no-deps", "--no-index", "--quiet", str(wheel)], cwd=root,
                            timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.stdout.strip()) / "etl_targets_test_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(ours)))
    return root / "bin"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, venv):
    """``etl-targets init demo``, then ``cd demo && etl-targets so --date 2026-01-27``."""
    home = tmp_path_factory.mktemp("user")
    env = clean_environment(home)
    init = Run.of(run_command([str(venv / "etl-targets"), "init", "demo"], cwd=home, env=env))
    folder = home / "demo"
    build = None
    if init.code == 0:
        build = Run.of(run_command([str(venv / "etl-targets"), "so", "--date", "2026-01-27"],
                                   cwd=folder, env=env))
    return folder, init, build


def test_wheel_holds_the_sample_of_every_dataset_folder_of_sample_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for dataset in sample_datasets():
        expected = {f"etl_targets/project_template/landing/{dataset}/{p.name}"
                    for p in (SAMPLE_LANDING / dataset).iterdir() if p.is_file()}
        assert expected and expected <= names, dataset


def test_installed_command_runs_the_wheel_not_this_checkout(venv, tmp_path):
    found = subprocess.run([str(venv / "python"), "-c", "import etl_targets; "
                            "print(etl_targets.__file__)"], capture_output=True, text=True,
                           cwd=tmp_path, env=clean_environment(tmp_path))
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).is_relative_to(venv.parent), found.stdout


def test_init_from_the_wheel_exits_0_and_says_what_to_run_next(demo):
    _, init, _ = demo
    assert init.code == 0, str(init)
    assert "etl-targets so --date 2026-01-27" in init.stdout, str(init)


def test_init_writes_the_sample_landing_of_every_dataset_byte_for_byte(demo):
    folder, init, _ = demo
    assert sorted(p.name for p in (folder / "landing").iterdir()) == sample_datasets(), str(init)
    assert files_below(folder / "landing") == files_below(SAMPLE_LANDING)


def test_init_writes_a_luigi_cfg_with_relative_roots(demo):
    folder, _, _ = demo
    config = configparser.ConfigParser()
    config.read(folder / "luigi.cfg")
    assert dict(config["etl_targets"]) == {"landing_root": "landing", "lake_root": "lake",
                                           "log_dir": "logs", "retention_bronze": "7y",
                                           "retention_silver": "2y", "retention_gold": "",
                                           "retention_trash": "30d"}


def test_init_writes_a_gitignore_for_lake_and_logs(demo):
    folder, _, _ = demo
    ignored = [line for line in (folder / ".gitignore").read_text().splitlines()
               if line and not line.startswith("#")]
    assert sorted(ignored) == ["/lake/", "/logs/"]


def test_project_folder_builds_the_sample_day_with_no_environment(demo):
    folder, init, build = demo
    assert build is not None, str(init)
    assert build.code == 0, str(build)
    for table in GOLD_TABLES:
        assert (folder / "lake" / "gold" / table / "date=2026-01-27" / "data.parquet").is_file()
    assert (folder / "logs" / "so").is_dir()
    assert sorted(p.name for p in folder.iterdir()) == [".gitignore", "lake", "landing", "logs",
                                                        "luigi.cfg"]


# --------------------------------------------------------------------------
# The template and the refusal (this checkout's CLI)
# --------------------------------------------------------------------------

def test_template_luigi_cfg_shares_the_repository_settings():
    template, repository = configparser.ConfigParser(), configparser.ConfigParser()
    template.read(REPO / "etl_targets" / "project_template" / "luigi.cfg")
    repository.read(LUIGI_CFG)
    for section in SHARED_SECTIONS:
        assert dict(template[section]) == dict(repository[section]), section


def test_init_refuses_a_folder_that_is_not_empty_with_exit_2_and_leaves_it_alone(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "luigi.cfg").write_text("mine\n")
    run = Run.of(run_command(etl_argv("init", str(folder)), cwd=tmp_path,
                             env=clean_environment(tmp_path)))
    assert run.code == 2, str(run)
    assert run.stderr.strip().splitlines() == [
        f"error: {folder} exists and is not empty: init writes only into a new or empty "
        f"folder"], str(run)
    assert files_below(folder) == {"luigi.cfg": b"mine\n"}


def test_init_fills_an_existing_empty_folder(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    run = Run.of(run_command(etl_argv("init", str(folder)), cwd=tmp_path))
    assert run.code == 0, str(run)
    assert (folder / "luigi.cfg").is_file() and (folder / "landing" / "so").is_dir()
