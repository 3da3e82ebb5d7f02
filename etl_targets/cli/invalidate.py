"""``etl-targets invalidate <dataset> (--date D | --start D1 --end D2) [--stage S] [--dry-run]``.

Removes one stage's outputs of some dates and every output built from them
(found from the luigi graph by :mod:`etl_targets.graph.downstream`), so the
next ``etl-targets <dataset>`` run rebuilds exactly those. The default stage,
``bronze``, is everything derived from the landing area; the landing area
itself is never touched. The list is printed first, grouped by stage;
``--dry-run`` stops there. Otherwise the files move to
``{lake}/_trash/<run_id>/`` under their own relative paths: to undo, move
them back.
"""

import datetime as dt
import functools
import sys
from typing import List

from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_dates, add_env, check_dates
from etl_targets.config import load_settings
from etl_targets.dates import days_between, describe_dates
from etl_targets.errors import StorageError
from etl_targets.graph import downstream
from etl_targets.lake import context
from etl_targets.runs import records as ops


def add_commands(commands, datasets) -> None:
    """``invalidate``."""
    sub = commands.add_parser(
        "invalidate", help="move a stage's outputs of some dates, and everything downstream, "
                           "to the lake's _trash")
    sub.set_defaults(run=run_invalidate, check=functools.partial(_check, datasets=datasets))
    sub.add_argument("dataset", choices=sorted(datasets))
    add_dates(sub, default_today=False)
    stages = sorted({name for d in datasets.values() for name in downstream.stage_names(d)}
                    - set(downstream.STAGES))
    sub.add_argument("--stage", default="bronze", choices=list(downstream.STAGES) + stages,
                     help="bronze (default: everything derived from landing), silver, gold "
                          "or one gold table of the dataset")
    sub.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    add_env(sub)


def _check(parser, args, datasets) -> None:
    check_dates(parser, args)
    if not (args.date or args.start):
        parser.error("give --date or --start/--end")
    dataset = datasets[args.dataset]
    if args.stage not in downstream.stage_names(dataset):
        parser.error(f"--stage {args.stage}: {args.dataset} has no such stage; choose from "
                     f"{', '.join(downstream.stage_names(dataset))}")


def run_invalidate(args, datasets) -> int:
    """Lists, then (without --dry-run) moves to the trash. Returns the exit status."""
    dataset = datasets[args.dataset]
    settings = load_settings(args.env)
    roots = {"lake_root": settings.lake_root, "landing_root": settings.landing_root}
    dates = list(days_between(args.start, args.end)) if args.start else [args.date]
    outputs = downstream.invalidation(dataset, args.stage, dates, roots)
    asked = f"{args.dataset} {args.stage} of {describe_dates(dates)}"
    if not outputs:
        print(f"nothing to invalidate: no output of {asked} or downstream of it exists")
        return exitcodes.OK
    print(f"{'would move' if args.dry_run else 'moving'} to the trash ({asked} and downstream):")
    _print_list(outputs)
    if args.dry_run:
        print("dry run: nothing was moved")
        return exitcodes.OK
    lake = context.current().area(settings.lake_root)
    run_id = ops.new_run_id()
    trash = lake.location(downstream.trash_folder(lake, run_id))
    try:
        downstream.move_to_trash(outputs, lake, run_id)
    except StorageError:
        print(f"error: stopped part-way; files already moved are in {trash}", file=sys.stderr)
        raise
    print(f"moved {_count(len(outputs), 'file')} to {trash}; to undo, move them back")
    return exitcodes.OK


def _print_list(outputs: List[downstream.Output]) -> None:
    """One line per file, grouped by stage (bronze, silver, gold, any other), then a summary."""
    order = {stage: index for index, stage in enumerate(downstream.STAGES)}
    by_stage = {}
    for output in sorted(outputs, key=lambda o: (order.get(o.stage, len(order)), o.stage,
                                                 o.relative)):
        by_stage.setdefault(output.stage, []).append(output)
    for stage, group in by_stage.items():
        print(f"  {stage}:")
        for output in group:
            print(f"    {output.target.location}")
    days = {_date_of(output) for output in outputs} - {None}
    print(f"{_count(len(outputs), 'file')} of {_count(len(days), 'date')}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _date_of(output: downstream.Output):
    day = getattr(output.task, "date", None)
    return day if isinstance(day, dt.date) else None
