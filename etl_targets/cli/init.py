"""``etl-targets init DIR``: a working project folder, from the installed package alone.

Writes ``DIR/luigi.cfg`` (roots ``landing``, ``lake``, ``logs`` and the
``[core]``, ``[worker]``, ``[scheduler]``, ``[retcode]`` and ``[RangeDaily]``
settings of the repository's own ``luigi.cfg``, commented), ``DIR/landing/``
with the sample January 2026 of every dataset shipped, and
``DIR/.gitignore`` (``lake/``, ``logs/``). Then, with no environment
variable set::

    etl-targets init demo && cd demo && etl-targets so --date 2026-01-27

The files are package data, ``etl_targets/project_template/``, whose
``landing`` is a link to the repository's ``sample_data/landing``: a wheel
holds copies of whatever dataset folders were there when it was built, and
a clone reads the folder itself.
"""

import importlib.resources
import pathlib
from typing import Dict

from etl_targets.cli import exitcodes
from etl_targets.errors import ConfigError, StorageError, UsageError

#: the package-data folder (``etl_targets/project_template``)
TEMPLATE = "project_template"
#: a day of the sample that every gold table can be built for
SAMPLE_DAY = "2026-01-27"
#: template file -> name in the project folder (a ``.gitignore`` in the
#: package would apply to the repository's own template folder)
FILES = {"luigi.cfg": "luigi.cfg", "gitignore": ".gitignore"}


def add_commands(commands, datasets) -> None:
    """``init DIR``."""
    sub = commands.add_parser("init", help="write a project folder: luigi.cfg, the sample "
                                           "landing files of every dataset, .gitignore")
    sub.add_argument("directory", metavar="DIR", help="a new or empty folder")
    sub.set_defaults(run=run_init)


def run_init(args, datasets) -> int:
    """The ``init`` command. Returns the exit status."""
    target = pathlib.Path(args.directory)
    copied = write_project(target, importlib.resources.files("etl_targets") / TEMPLATE)
    shown = ", ".join(f"{name} ({count} files)" for name, count in copied.items())
    first = "so" if "so" in copied else next(iter(copied))
    print(f"wrote {target}: luigi.cfg, .gitignore, landing/ with the sample of {shown}")
    print(f"next:\n   cd {target}\n   etl-targets {first} --date {SAMPLE_DAY}")
    return exitcodes.OK


def write_project(target: pathlib.Path, template) -> Dict[str, int]:
    """Writes the project folder ``target`` from ``template``.

    Args:
        target: a folder that does not exist or is empty.
        template: the template folder (an ``importlib.resources`` Traversable).

    Returns:
        Dataset folder -> number of sample files copied into ``target/landing``.

    Raises:
        UsageError: ``target`` exists and is not an empty folder (nothing is overwritten).
        ConfigError: the installed package has no sample landing data.
        StorageError: a file cannot be written.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} exists and is not empty: init writes only into a new or "
                         f"empty folder")
    landing = template / "landing"
    datasets = sorted((d for d in landing.iterdir() if d.is_dir()), key=lambda d: d.name) \
        if landing.is_dir() else []
    if not datasets:
        raise ConfigError(f"this installation of etl_targets has no sample landing data "
                          f"({landing}); reinstall it from a wheel or a checkout with symlinks")
    copied = {}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for source, name in FILES.items():
            (target / name).write_bytes((template / source).read_bytes())
        for dataset in datasets:
            copied[dataset.name] = _copy_tree(dataset, target / "landing" / dataset.name)
    except OSError as exc:
        raise StorageError(f"cannot write {exc.filename or target}: {exc.strerror or exc}") \
            from exc
    return copied


def _copy_tree(source, destination: pathlib.Path) -> int:
    """Copies every file below ``source`` (a Traversable) into ``destination``; returns the count."""
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            count += _copy_tree(entry, destination / entry.name)
        elif not entry.name.startswith("."):
            (destination / entry.name).write_bytes(entry.read_bytes())
            count += 1
    return count
