r"""Write every dataset's sample landing files with one command.

Why: the shipped sample data (``sample_data/landing``) must be reproducible
byte for byte, and INV's stock is shaped by SO's sales, so the generators
run in one order (SO before INV) with one seed. The defaults are the
shipped data's:

    python -m etl_targets.datasets.samples --start 2026-01-01 --days 31 --out sample_data/landing

is, dataset by dataset,

    python -m etl_targets.datasets.samples.so --start 2026-01-01 --days 31 --rows 300 \
        --out sample_data/landing --seed 20260101
    python -m etl_targets.datasets.samples.po  --start 2026-01-01 --days 31 --out sample_data/landing --seed 20260101
    python -m etl_targets.datasets.samples.inv --start 2026-01-01 --days 31 --out sample_data/landing \
        --sales sample_data/landing --seed 20260101
    python -m etl_targets.datasets.samples.gl  --start 2026-01-01 --days 31 --out sample_data/landing --seed 20260101
"""

from __future__ import annotations

import argparse
import datetime
import sys

from etl_targets.datasets.samples import gl, inv, po, so

SHIPPED_SEED = 20260101
SHIPPED_SO_ROWS = 300
DATASETS = ("so", "po", "inv", "gl")


def write(datasets, start: datetime.date, days: int, out, seed: int, so_rows: int) -> dict:
    """Writes the chosen datasets in dependency order; returns their paths by dataset.

    INV reads the SO files under ``out`` (written first when ``so`` is chosen).
    """
    writers = {
        "so": lambda: so.generate(start, days, so_rows, out, seed),
        "po": lambda: po.generate(start, days, out, seed),
        "inv": lambda: inv.generate(start, days, out, seed, sales=out),
        "gl": lambda: gl.generate(start, days, out, seed),
    }
    return {name: writers[name]() for name in DATASETS if name in datasets}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m etl_targets.datasets.samples",
        description="Write deterministic, messy landing files of every dataset "
                    "(defaults: the shipped sample data).")
    parser.add_argument("--start", required=True, type=datetime.date.fromisoformat,
                        help="first business date, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1, help="number of dates (default 1)")
    parser.add_argument("--out", required=True, help="landing root (so/, po/, inv/, gl/ below)")
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED,
                        help=f"random seed of every generator (default {SHIPPED_SEED})")
    parser.add_argument("--so-rows", type=int, default=SHIPPED_SO_ROWS,
                        help=f"SO data rows per day (default {SHIPPED_SO_ROWS})")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help="comma-separated subset of so,po,inv,gl (default all); "
                             "inv reads OUT/so/")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.datasets.split(",") if name.strip()]
    if args.days < 1 or args.so_rows < 0 or not chosen or set(chosen) - set(DATASETS):
        parser.error("--days must be >= 1, --so-rows >= 0, --datasets a subset of so,po,inv,gl")
    try:
        written = write(chosen, args.start, args.days, args.out, args.seed, args.so_rows)
    except OSError as exc:
        print(f"etl_targets.datasets.samples: {exc}", file=sys.stderr)
        return 1
    for name, paths in written.items():
        print(f"wrote {len(paths)} {name} file(s) under {args.out}/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
