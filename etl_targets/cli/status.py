"""``etl-targets status <dataset> (--date D | --start D1 --end D2) [--why D] [--json] [--env E]``.

Says, without building or writing anything, which dates of a dataset are
done and which are not, by the rules of :mod:`etl_targets.graph.state`:
missing, waiting for a landing file, out of date (the landing file changed
since it was landed, or an input was rewritten after an output) or failed.
It answers from one listing per prefix, so a year on S3 is a handful of
requests; only dates under suspicion have files read.

* Text (default): a calendar, one line per month (``2026-01 │`` then one
  cell per day, aligned on the day of the month) showing each date's worst
  stage, a legend, then one line per date and stage that is not done, with
  its reason. Colour only when stdout is a terminal, never in a pipe or a log.
* ``--why D``: that one date, stage by stage, with every detail (landing
  file, sizes and times, both sha256 when checked, which input is newer and
  by how much, the failure's error).
* ``--json``: one JSON document on stdout (not JSON lines: the exit status
  and the counts belong to the whole range, and ``jq '.entries[]'`` streams
  the entries anyway)::

      {"dataset": "so", "start": "2026-01-01", "end": "2026-01-31", "done": false,
       "counts": {"done": 120, "missing": 4},
       "entries": [{"date": "2026-01-01", "stage": "bronze", "state": "done",
                    "reason": "...", "details": {...}}, ...]}

Without dates, the range is the current month up to today. The exit status
is 0 when every stage of every date is done, else
:data:`~etl_targets.cli.exitcodes.OUT_OF_DATE`.
"""

import datetime as dt
import json
import sys
from typing import Dict, List, Sequence, TextIO

from etl_targets.cli import exitcodes
from etl_targets.cli.arguments import add_dates, add_env, check_dates, parse_date_argument
from etl_targets.config import load_settings
from etl_targets.dates import days_between
from etl_targets.graph import state
from etl_targets.graph.state import StageState
from etl_targets.lake import context, layout, storage

#: state -> calendar symbol; both kinds of "out of date" share one
SYMBOLS = {state.DONE: "●", state.MISSING: "○", state.NO_LANDING: "·",
           state.LANDING_CHANGED: "△", state.UPSTREAM_NEWER: "△", state.FAILED: "✗"}
#: the same, for a stream that cannot encode them (a Windows code page)
ASCII_SYMBOLS = {state.DONE: "#", state.MISSING: "o", state.NO_LANDING: ".",
                 state.LANDING_CHANGED: "^", state.UPSTREAM_NEWER: "^", state.FAILED: "x"}
#: state -> ANSI colour (SGR parameter), used on terminals only
COLOURS = {state.DONE: "32", state.MISSING: "33", state.NO_LANDING: "2",
           state.LANDING_CHANGED: "35", state.UPSTREAM_NEWER: "35", state.FAILED: "31;1"}
LEGEND = ((state.DONE, "done"), (state.MISSING, "missing"), (state.NO_LANDING, "no landing file"),
          (state.UPSTREAM_NEWER, "out of date"), (state.FAILED, "failed"))
#: between a month and its days
BAR = "│"
MONTH_PREFIX = "YYYY-MM | "


def add_commands(commands, datasets) -> None:
    """``status``."""
    sub = commands.add_parser(
        "status", help="which dates are done, missing, out of date or failed (reads only)",
        description="Without dates: the current month up to today. Exit 0 when every stage of "
                    "every date is done, 8 otherwise.")
    sub.set_defaults(run=run_status, check=_check)
    sub.add_argument("dataset", choices=sorted(datasets))
    add_dates(sub, default_today=False)
    sub.add_argument("--why", type=parse_date_argument, metavar="D",
                     help="explain one date stage by stage")
    sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_env(sub)


def _check(parser, args) -> None:
    check_dates(parser, args)
    if args.why and (args.date or args.start) and args.why not in _dates(args):
        parser.error("--why: that date is outside the range asked for")


def _dates(args) -> List[dt.date]:
    if args.start:
        return list(days_between(args.start, args.end))
    if args.date:
        return [args.date]
    today = dt.date.today()
    return list(days_between(today.replace(day=1), today))


def run_status(args, datasets) -> int:
    """Evaluates the dates and prints them. Returns the exit status."""
    dataset = datasets[args.dataset]
    settings = load_settings(args.env)
    dates = [args.why] if args.why else _dates(args)
    states = state.evaluate(dataset, dates, settings.lake_root, settings.landing_root)
    flagged = recorded_anomalies(dataset, dates, settings.lake_root)
    out = sys.stdout
    if args.json:
        document = _document(dataset.folder, dates, states)
        document["anomalies"] = flagged
        json.dump(document, out, indent=2, default=str)
        out.write("\n")
    elif args.why:
        _why(out, dataset.folder, args.why, states, _Style(out))
    else:
        style = _Style(out)
        print(f"{dataset.folder}: {_span(dates)}   lake {storage.redact(settings.lake_root)}",
              file=out)
        _calendar(out, dates, states, style)
        _not_done(out, states, style)
    if flagged and not args.json:
        print("\nvolume anomalies (warnings; the data is published):", file=out)
        for found in flagged:
            print(f"  {found['date']}  anomaly: {found['rows']} rows landed, median "
                  f"{found.get('median')} ({found.get('baseline')})", file=out)
    return exitcodes.OK if all(s.done for s in states) else exitcodes.OUT_OF_DATE


def recorded_anomalies(dataset, dates: Sequence[dt.date], lake_root: str) -> List[dict]:
    """The volume anomalies runs recorded for ``dates``: one listing, then the few markers."""
    build = context.BuildContext()
    lake = build.area(lake_root)
    wanted = {lake.key(lake.join(layout.anomaly_marker(dataset, day))):
              lake.join(layout.anomaly_marker(dataset, day)) for day in dates}
    listing = build.listing(lake, lake.join(layout.anomalies_folder(dataset)))
    return [json.loads(storage.read_bytes(lake.fs, path))
            for key, path in sorted(wanted.items()) if key in listing]


def _document(name: str, dates: Sequence[dt.date], states: Sequence[StageState]) -> dict:
    counts: Dict[str, int] = {}
    for found in states:
        counts[found.state] = counts.get(found.state, 0) + 1
    return {"dataset": name, "start": dates[0].isoformat(), "end": dates[-1].isoformat(),
            "done": all(s.done for s in states), "counts": counts,
            "entries": [s.as_dict() for s in states]}


class _Style:
    """Symbols and colour for one stream: colour only on a terminal, ASCII if it must."""

    def __init__(self, out: TextIO):
        self.colour = out.isatty()
        try:
            ("".join(SYMBOLS.values()) + BAR).encode(out.encoding or "ascii")
            self.symbols, self.bar = SYMBOLS, BAR
        except (LookupError, UnicodeEncodeError):
            self.symbols, self.bar = ASCII_SYMBOLS, "|"

    def paint(self, text: str, found: str) -> str:
        return f"\x1b[{COLOURS[found]}m{text}\x1b[0m" if self.colour else text

    def cell(self, found: str) -> str:
        return self.paint(self.symbols[found], found)


def _span(dates: Sequence[dt.date]) -> str:
    if len(dates) == 1:
        return dates[0].isoformat()
    return f"{dates[0].isoformat()} .. {dates[-1].isoformat()} ({len(dates)} dates)"


def _calendar(out: TextIO, dates: Sequence[dt.date], states: Sequence[StageState],
              style: _Style) -> None:
    """One line per month, a cell per day at its day of the month, then the legend."""
    by_date: Dict[dt.date, List[StageState]] = {}
    for found in states:
        by_date.setdefault(found.date, []).append(found)
    ruler = [" "] * 62
    for day in (1, 5, 10, 15, 20, 25, 30):
        ruler[2 * (day - 1):2 * (day - 1) + len(str(day))] = str(day)
    print(" " * len(MONTH_PREFIX) + "".join(ruler).rstrip(), file=out)
    months = sorted({(d.year, d.month) for d in dates})
    for year, month in months:
        cells = [" "] * 31
        for day, found in by_date.items():
            if (day.year, day.month) == (year, month):
                cells[day.day - 1] = style.cell(state.worst(found))
        print(f"{year:04d}-{month:02d} {style.bar} " + " ".join(cells).rstrip(), file=out)
    print(" " * len(MONTH_PREFIX) + "   ".join(f"{style.cell(s)} {text}" for s, text in LEGEND),
          file=out)


def _not_done(out: TextIO, states: Sequence[StageState], style: _Style) -> None:
    """One line per date and stage that is not done, with its reason."""
    pending = [s for s in states if not s.done]
    dates = {s.date for s in states}
    if not pending:
        print(f"every stage of {len(dates)} date(s) is done", file=out)
        return
    print(f"\n{len({s.date for s in pending})} of {len(dates)} date(s) not done:", file=out)
    width = max(len(s.stage) for s in pending)
    state_width = max(len(s.state) for s in pending)
    for found in pending:
        print(f"  {found.date.isoformat()}  {found.stage:<{width}}  "
              f"{style.paint(found.state.ljust(state_width), found.state)}  {found.reason}",
              file=out)


def _why(out: TextIO, name: str, day: dt.date, states: Sequence[StageState],
         style: _Style) -> None:
    """One date stage by stage, each with its reason and every detail behind it."""
    worst = state.worst(states)
    print(f"{name} {day.isoformat()}: {style.paint(worst, worst)}", file=out)
    width = max(len(s.stage) for s in states)
    for found in states:
        print(f"\n  {found.stage:<{width}}  {style.paint(found.state, found.state)}: "
              f"{found.reason}", file=out)
        keys = max((len(k) for k in found.details), default=0)
        for key, value in found.details.items():
            print(f"  {'':<{width}}    {key:<{keys}}  {_value(value)}", file=out)


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        shown = ", ".join(str(v) for v in value[:5])
        return shown + (f" (and {len(value) - 5} more)" if len(value) > 5 else "") or "-"
    return "-" if value is None else str(value)
