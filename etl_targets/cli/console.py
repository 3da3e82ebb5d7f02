"""What a person (or a log shipper) sees on the console.

Text: a start banner, one line per stage with row counts and where the
output went, an end banner with status and duration. ``--log-format json``:
the same events as one JSON object per line. Errors are one line; the
traceback is in the log file.
"""

import json
import sys
import time
from typing import Dict, Optional, TextIO


class Console:
    """Prints run events as text or JSON lines.

    Args:
        run_id: stamped on every JSON event.
        fmt: ``text`` or ``json``.
        out: where events go (stdout by default).
    """

    def __init__(self, run_id: str, fmt: str = "text", out: Optional[TextIO] = None):
        self.run_id = run_id
        self.fmt = fmt
        self.out = out or sys.stdout

    def event(self, step: str, status: str, text: str, duration_ms: Optional[int] = None,
              **fields) -> None:
        """One console line (text) or one JSON object (json)."""
        if self.fmt == "json":
            record = {"run_id": self.run_id, "step": step, "status": status,
                      "duration_ms": duration_ms}
            record.update(fields)
            print(json.dumps(record, default=str, sort_keys=True), file=self.out, flush=True)
            if status == "failure" and text and self.out is sys.stdout:
                # stdout stays pure JSON; the one-line error is on stderr too,
                # where cron wrappers (bin/etl-run's failures.log) look for it.
                print(text.strip(), file=sys.stderr, flush=True)
        else:
            stream = sys.stderr if status == "failure" and self.out is sys.stdout else self.out
            print(text, file=stream, flush=True)

    def banner(self, title: str, lines: Dict[str, str]) -> None:
        if self.fmt == "json":
            self.event("start", "started", "", **lines)
            return
        width = max(len(k) for k in lines)
        print(f"== {title}", file=self.out)
        for key, value in lines.items():
            print(f"   {key.ljust(width)}  {value}", file=self.out)
        self.out.flush()


class Progress:
    """``[#####.....] 12/365 dates  ETA 1m20s`` on a terminal, nothing elsewhere.

    Args:
        total: number of dates asked for.
        stream: a terminal; when it is not a TTY nothing is drawn and the
            caller prints a one-line summary instead.
    """

    def __init__(self, total: int, stream: Optional[TextIO] = None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.enabled = total > 1 and self.stream.isatty()
        self._started = time.monotonic()
        self._first = None

    def advance(self, already_complete: bool = False) -> None:
        self.done += 1
        if already_complete or self._first is None:
            self._first = (self.done, time.monotonic())
        self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        filled = int(30 * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (30 - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} dates  ETA {self.eta()}   ")
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()

    def eta(self) -> str:
        if self._first is None or self.done >= self.total:
            return "--"
        first_done, first_time = self._first
        built = self.done - first_done
        if built <= 0:
            return "--"
        seconds = (time.monotonic() - first_time) / built * (self.total - self.done)
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
