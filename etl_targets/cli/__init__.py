"""``etl-targets`` / ``python -m etl_targets``: the production command line.

``main(argv=None) -> int`` is callable from tests; argument parsing lives
here, each command in its own module, and every failure maps to an exit
status from :mod:`etl_targets.cli.exitcodes` with a one-line message.
"""

import argparse
import sys
from typing import List, Optional

from etl_targets.cli import exitcodes
from etl_targets.dates import parse_date
from etl_targets.errors import EtlError


def _date(text: str):
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def build_parser(datasets) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-targets",
                                     description="Build the lake from the ERP's daily drops.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for dataset in datasets.values():
        sub = commands.add_parser(dataset.folder, help=f"build every gold table of {dataset.code}")
        sub.set_defaults(dataset=dataset)
        when = sub.add_mutually_exclusive_group()
        when.add_argument("--date", type=_date, help="business date YYYY-MM-DD (default: today)")
        when.add_argument("--start", type=_date, help="first date of a backfill (with --end)")
        sub.add_argument("--end", type=_date, help="last date of a backfill, included")
        sub.add_argument("--input", help="use this file (any fsspec URL) as the landing file "
                                          "of the one --date")
        sub.add_argument("--dry-run", action="store_true",
                         help="parse, validate and transform in memory; write nothing")
        _common(sub)
        sub.add_argument("--workers", type=_positive, default=1, help="worker processes")
        sub.add_argument("--scheduler-host", help="central luigid host (default: in-process)")
        sub.add_argument("--scheduler-port", type=_positive, help="central luigid port")
        sub.add_argument("--log-format", choices=("text", "json"), default="text")
    runs = commands.add_parser("runs", help="show the run history")
    runs.add_argument("--pipeline", choices=sorted(datasets))
    runs.add_argument("--last", type=_positive, default=20)
    runs.add_argument("--status", choices=("success", "failure"))
    _common(runs)
    fresh = commands.add_parser("freshness", help="age of the last success; non-zero when stale")
    fresh.add_argument("--pipeline", choices=sorted(datasets))
    fresh.add_argument("--max-age", required=True, help="e.g. 26h, 90m, 2d")
    _common(fresh)
    return parser


def _common(sub) -> None:
    sub.add_argument("--env", help="configuration set: [etl_targets.<env>] in luigi.cfg")


def _check(parser, args) -> None:
    if getattr(args, "dataset", None) is None:
        return
    if bool(args.start) != bool(args.end):
        parser.error("--start and --end go together")
    if args.start and args.end < args.start:
        parser.error("--end is before --start")
    if args.input and args.start:
        parser.error("--input overrides one date's file: use it with --date")
    if args.scheduler_port and not args.scheduler_host:
        parser.error("--scheduler-port needs --scheduler-host")


def main(argv: Optional[List[str]] = None) -> int:
    """Runs one command; returns its exit status."""
    from etl_targets.datasets import DATASETS

    parser = build_parser(DATASETS)
    try:
        args = parser.parse_args(argv)
        _check(parser, args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exitcodes.OK if exc.code in (0, None) else exitcodes.BAD_ARGUMENTS
    try:
        if args.command == "runs":
            from etl_targets.cli.history import run_runs
            return run_runs(args, sorted(DATASETS))
        if args.command == "freshness":
            from etl_targets.cli.history import run_freshness
            return run_freshness(args, sorted(DATASETS))
        from etl_targets.cli.pipeline import run_pipeline
        return run_pipeline(args, args.dataset)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.for_error(exc)


if __name__ == "__main__":
    sys.exit(main())
