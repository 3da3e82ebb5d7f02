"""Arguments several commands share, spelled and checked once."""

import argparse

from etl_targets.config import business_timezone
from etl_targets.dates import business_today, parse_date


def parse_date_argument(text: str):
    """A business date; ``today``, ``yesterday`` and ``-N`` in the business time zone."""
    try:
        return parse_date(text, today=business_today(business_timezone()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def add_env(sub) -> None:
    """``--env``, which every command that reads configuration takes."""
    sub.add_argument("--env", help="configuration set: [etl_targets.<env>] in luigi.cfg")


def add_dates(sub, default_today: bool = True) -> None:
    """``--date`` or ``--start``/``--end`` (checked by :func:`check_dates`)."""
    when = sub.add_mutually_exclusive_group()
    when.add_argument("--date", type=parse_date_argument,
                      help="business date: YYYY-MM-DD, today, yesterday or -N (N days ago)" + (" (default: today)" if default_today else ""))
    when.add_argument("--start", type=parse_date_argument, help="first date of a range (with --end)")
    sub.add_argument("--end", type=parse_date_argument, help="last date of a range, included")


def check_dates(parser, args) -> None:
    if bool(args.start) != bool(args.end):
        parser.error("--start and --end go together")
    if args.start and args.end < args.start:
        parser.error("--end is before --start")
