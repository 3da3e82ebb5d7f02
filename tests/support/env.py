"""The environment a command of the project runs with.

Configuration comes from ``LUIGI_CONFIG_PATH`` (the repository's
``luigi.cfg``) and the ``ETL_*`` roots; no test may touch the repository's
``data/`` folder.
"""

from __future__ import annotations

import os
from typing import Dict, Optional

from support.paths import LUIGI_CFG


def etl_roots(lake, landing, logs) -> Dict[str, str]:
    """``ETL_LAKE_ROOT``, ``ETL_LANDING_ROOT`` and ``ETL_LOG_DIR`` for the given roots."""
    return {"ETL_LAKE_ROOT": str(lake), "ETL_LANDING_ROOT": str(landing), "ETL_LOG_DIR": str(logs)}


def cli_environment(lake, landing, logs, **overrides: Optional[str]) -> Dict[str, str]:
    """This process's environment for a command: no stray ``ETL_*``, the repository's ``luigi.cfg``.

    Args:
        lake: the lake root, a folder or an ``s3://`` URL.
        landing: the landing root, likewise.
        logs: the log folder.
        **overrides: further variables; ``None`` removes one.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("ETL_")}
    env.update(LUIGI_CONFIG_PATH=str(LUIGI_CFG), **etl_roots(lake, landing, logs))
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env
