"""The folders a command-line test runs in, under one temporary root.

``landing/`` (with ``so/``), ``lake/``, ``logs/`` and an empty ``cwd/``: the
working directory stays empty unless a command writes into it, which the
tests check.
"""

from __future__ import annotations

from pathlib import Path


class Folders:
    """A landing area, a lake, a log folder and an empty working directory under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.landing, self.lake, self.logs, self.cwd = (root / name for name in
                                                        ("landing", "lake", "logs", "cwd"))
        for folder in (self.landing / "so", self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
