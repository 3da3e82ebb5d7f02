"""The project's commands as subprocesses, the way cron runs them (stdout is not a terminal)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from support.paths import VENV_BIN

LUIGI = VENV_BIN / "luigi"
CONSOLE_SCRIPT = VENV_BIN / "etl-targets"

#: ``   silver    27 dates    7866 rows in silver, 72 rejected, 9 duplicates dropped  -> /lake/silver/so/``
#: (a single date's line ends ``-> <output>   from <landing file>``)
STAGE_LINE = re.compile(r"^\s+(?P<step>bronze|silver|gold:\w+)\s+.*?\s(?P<rows>\d+) rows"
                        r"(?: landed| in silver| to land| for silver)?"
                        r"(?:, (?P<rejects>\d+) rejected)?(?:, (?P<duplicates>\d+) duplicates dropped)?"
                        r"\s+->\s+\S+(?:\s+from\s+\S+)?\s*$")


def etl_argv(*args: str) -> List[str]:
    """``python -m etl_targets <args>`` with this interpreter."""
    return [sys.executable, "-m", "etl_targets", *args]


def luigi_argv(*args: str) -> List[str]:
    """``luigi --module etl_targets <args>``: luigi's own command line on the package."""
    return [str(LUIGI), "--module", "etl_targets", *args]


def run_command(argv: Sequence[str], *, cwd: Path, env: Optional[Mapping[str, str]] = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs ``argv`` to the end, stdout and stderr captured as text."""
    return subprocess.run(list(argv), cwd=cwd, env=None if env is None else dict(env),
                          capture_output=True, text=True, timeout=timeout)


def explain(process, stdout: Optional[str] = None, stderr: Optional[str] = None) -> str:
    """Exit status and the tails of the output, for an assertion message.

    Args:
        process: a ``CompletedProcess``, or a ``Popen`` whose ``communicate()``
            returned ``stdout`` and ``stderr``.
    """
    stdout = process.stdout if stdout is None else stdout
    stderr = process.stderr if stderr is None else stderr
    return f"exit {process.returncode}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"


@dataclasses.dataclass
class Run:
    """One finished command, and readings of what it printed."""

    argv: List[str]
    code: int
    stdout: str
    stderr: str

    @classmethod
    def of(cls, done: subprocess.CompletedProcess) -> "Run":
        return cls(list(done.args), done.returncode, done.stdout, done.stderr)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def stage_counts(self) -> Dict[str, tuple]:
        """``{step: (rows, rejects)}`` from the text per-stage lines."""
        found = {}
        for line in self.stdout.splitlines():
            match = STAGE_LINE.match(line)
            if match:
                rejects = match.group("rejects")
                found[match.group("step")] = (int(match.group("rows")),
                                              None if rejects is None else int(rejects))
        return found

    def json_events(self) -> List[dict]:
        """One object per stdout line (``--log-format json``); raises if a line is not JSON."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return (f"$ {' '.join(self.argv)}\nexit {self.code}\n--- stdout\n{self.stdout}"
                f"--- stderr\n{self.stderr}")
