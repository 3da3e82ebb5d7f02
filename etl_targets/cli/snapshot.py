"""``etl-targets snapshot create|list|verify``: golden copies of the published gold tables.

* ``snapshot create NAME [--datasets so,po]`` copies every published gold
  partition of those datasets (default: all) to ``{lake}/_snapshots/NAME/``
  and writes its ``_manifest.json`` last;
* ``snapshot list``: name, created, files, total bytes, complete or not;
* ``snapshot verify NAME``: every file's sha256 against the manifest; exit 0
  when all match, otherwise the first file that is missing or differs
  (exit 5), and exit 2 for a name that is not a snapshot.

:mod:`etl_targets.runs.snapshots` does the work.
"""

import argparse
import functools
from typing import List

from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_env
from etl_targets.config import load_settings
from etl_targets.errors import UsageError
from etl_targets.lake import context
from etl_targets.runs import snapshots


def add_commands(commands, datasets) -> None:
    """``snapshot create``, ``snapshot list``, ``snapshot verify``."""
    sub = commands.add_parser("snapshot", help="named, checksummed copies of the published "
                                               "gold tables: create, list, verify")
    actions = sub.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="copy the published gold partitions to "
                                               "{lake}/_snapshots/NAME/, manifest last")
    create.add_argument("name", metavar="NAME", type=_name, help="a new name: letters, digits, "
                                                                 "'.', '_', '-'")
    create.add_argument("--datasets", type=_names, metavar="D1,D2",
                        help=f"comma-separated datasets (default: all: {','.join(datasets)})")
    add_env(create)
    create.set_defaults(run=run_create, check=functools.partial(_check, datasets=datasets))
    listing = actions.add_parser("list", help="every snapshot: created, files, bytes, complete?")
    add_env(listing)
    listing.set_defaults(run=run_list)
    verify = actions.add_parser("verify", help="recompute every file's sha256 against the "
                                               "manifest; non-zero naming the first bad file")
    verify.add_argument("name", metavar="NAME", type=_name)
    add_env(verify)
    verify.set_defaults(run=run_verify)


def _name(text: str) -> str:
    try:
        return snapshots.check_name(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _names(text: str) -> List[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _check(parser, args, datasets) -> None:
    unknown = sorted(set(args.datasets or ()) - set(datasets))
    if unknown:
        parser.error(f"--datasets: unknown {', '.join(unknown)}; choose from "
                     f"{', '.join(datasets)}")
    if args.datasets == []:
        parser.error("--datasets: name at least one dataset")


def run_create(args, datasets) -> int:
    settings = load_settings(args.env)
    lake = context.current().area(settings.lake_root)
    chosen = [datasets[name] for name in (args.datasets or datasets)]
    names = [dataset.folder for dataset in chosen]
    roots = {"lake_root": settings.lake_root, "landing_root": settings.landing_root}
    target = lake.location(snapshots.check_free(lake, args.name))
    sources = snapshots.published_gold(lake, chosen, roots)
    if sources:
        print(f"snapshot {args.name}: copying {len(sources)} gold files of {', '.join(names)} "
              f"to {target}")
    manifest = snapshots.create(lake, args.name, sources, names)
    print(f"snapshot {args.name} complete: {manifest['file_count']} files, "
          f"{manifest['total_bytes']} bytes, tables {', '.join(manifest['tables'])}; "
          f"manifest {target}/{snapshots.MANIFEST}")
    return exitcodes.OK


def run_list(args, datasets) -> int:
    settings = load_settings(args.env)
    lake = context.current().area(settings.lake_root)
    found = snapshots.list_snapshots(lake)
    if not found:
        print(f"no snapshots in {lake.location(lake.join(snapshots.SNAPSHOTS_FOLDER))}")
        return exitcodes.OK
    rows = [("NAME", "CREATED", "DATASETS", "FILES", "BYTES", "STATE")]
    for item in found:
        rows.append((item.name, item.created_at or "-", ",".join(item.datasets) or "-",
                     str(item.files), str(item.total_bytes),
                     "complete" if item.complete else f"incomplete (no {snapshots.MANIFEST})"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return exitcodes.OK


def run_verify(args, datasets) -> int:
    settings = load_settings(args.env)
    lake = context.current().area(settings.lake_root)
    manifest = snapshots.verify(lake, args.name)
    print(f"snapshot {args.name}: {manifest['file_count']} files, {manifest['total_bytes']} "
          f"bytes, every sha256 matches its manifest (created {manifest['created_at']})")
    return exitcodes.OK
