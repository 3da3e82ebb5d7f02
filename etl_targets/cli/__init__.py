"""``etl-targets`` / ``python -m etl_targets``: the production command line.

``main(argv=None) -> int`` is callable from tests; argument parsing lives
here, each command in its own module, and every failure maps to an exit
status from :mod:`etl_targets.cli.exitcodes` with a one-line message.
"""

import argparse
import importlib
import sys
from typing import List, Optional

from etl_targets.cli import exitcodes
from etl_targets.errors import EtlError


#: modules that each add their subcommands with ``add_commands(commands, datasets)``;
#: a command's parser sets ``run=`` to ``function(args, datasets) -> int``.
COMMAND_MODULES = (
    "etl_targets.cli.pipeline",
    "etl_targets.cli.history",
    "etl_targets.cli.status",
    "etl_targets.cli.invalidate",
    "etl_targets.cli.init",
    "etl_targets.cli.gc",
    "etl_targets.cli.snapshot",
)


def build_parser(datasets) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl-targets",
                                     description="Build the lake from the ERP's daily drops.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands, datasets)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs one command; returns its exit status."""
    from etl_targets.datasets import DATASETS
    from etl_targets.graph.registry import load_datasets

    try:
        load_datasets()  # first: datasets declared outside the package get subcommands too
    except EtlError as exc:  # a clash or a module that does not import: one line, exit 3
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.for_error(exc)
    parser = build_parser(DATASETS)
    try:
        args = parser.parse_args(argv)
        check = getattr(args, "check", None)
        if check is not None:
            check(parser, args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exitcodes.OK if exc.code in (0, None) else exitcodes.BAD_ARGUMENTS
    try:
        return args.run(args, DATASETS)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.for_error(exc)


if __name__ == "__main__":
    sys.exit(main())
