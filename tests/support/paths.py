"""Where things are: the repository, its configuration, its sample data, the venv's commands."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The repository's luigi configuration, named by ``LUIGI_CONFIG_PATH``.
LUIGI_CFG = REPO / "luigi.cfg"
#: The shipped sample landing root (``so/zheSO-2026-1-1.csv`` ...); read only.
SAMPLE_LANDING = REPO / "sample_data" / "landing"
SAMPLE_SO = SAMPLE_LANDING / "so"
#: The folder of the running interpreter, where ``luigi``, ``luigid`` and ``etl-targets`` live.
VENV_BIN = Path(sys.executable).parent
