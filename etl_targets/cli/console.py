"""What a person (or a log shipper) sees on the console.

Text: a start banner, one line per stage with row counts and where the
output went, an end banner with status and duration. Errors are one line;
the traceback is in the log file.

``--log-format json`` prints the same events as one JSON object per line,
with one schema for every event:

* ``ts``: ISO 8601 UTC time of the event;
* ``run_id``, ``dataset``;
* ``event``: ``start``, ``bronze``, ``silver``, ``gold:<table>``,
  ``earlier_dates``, ``later_dates``, ``dates_built``, ``anomaly``, ``warning``,
  ``build``, ``config``, ``manifest``, ``end`` (and the name of a failed task family);
* ``status``: one of :data:`STATUSES` (``warning``: a volume anomaly, or a
  warning about the data such as an unknown column dropped);
* ``date`` (ISO) for one date, or ``start`` and ``end`` for a range;
* counts (``rows``, ``rejects``, ``duplicates``, ``dates``, ``duration_ms``,
  ``exit_code``) as integers or null, ``counts`` as a name -> integer map;
  ``error`` with the one-line error on ``failed`` events.
"""

import contextlib
import datetime as dt
import json
import logging
import sys
import time
from typing import Dict, Iterator, Optional, TextIO

#: the fixed vocabulary of ``status`` in JSON events
STATUSES = ("started", "done", "would_build", "already_complete", "warning", "failed",
            "succeeded")


class Console:
    """Prints run events as text or JSON lines.

    Args:
        run_id: stamped on every JSON event.
        fmt: ``text`` or ``json``.
        out: where events go (stdout by default).
        dataset: stamped on every JSON event.
        dates: the dates of the run (``date``, or ``start``/``end``, on every event).
    """

    def __init__(self, run_id: str, fmt: str = "text", out: Optional[TextIO] = None,
                 dataset: Optional[str] = None, dates=()):
        self.run_id = run_id
        self.fmt = fmt
        self.out = out or sys.stdout
        self.dataset = dataset
        dates = sorted(dates)
        self._when = ({"date": dates[0].isoformat()} if len(dates) == 1 else
                      {"start": dates[0].isoformat(), "end": dates[-1].isoformat()} if dates else {})

    def event(self, event: str, status: str, text: str, duration_ms: Optional[int] = None,
              **fields) -> None:
        """One console line (text) or one JSON object (json)."""
        if status not in STATUSES:
            raise ValueError(f"unknown event status {status!r}")
        if self.fmt == "json":
            record = {"ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
                      "run_id": self.run_id, "dataset": self.dataset, "event": event,
                      "status": status, "duration_ms": duration_ms, **self._when}
            record.update(fields)
            print(json.dumps(record, default=str, sort_keys=True), file=self.out, flush=True)
            if status == "failed" and text and self.out is sys.stdout:
                # stdout stays pure JSON; the one-line error is on stderr too,
                # where cron wrappers look for it.
                print(text.strip(), file=sys.stderr, flush=True)
        else:
            stream = sys.stderr if status == "failed" and self.out is sys.stdout else self.out
            print(text, file=stream, flush=True)

    @contextlib.contextmanager
    def data_warnings(self) -> Iterator[None]:
        """Warnings about the data (``etl_targets.datasets``) printed as well as logged.

        The contract promises a warning when a landing file's unknown columns
        are dropped; the log file alone would hide it from whoever reads the
        console. One line each (``warning`` events in JSON).
        """
        handler = _DataWarnings(self)
        source = logging.getLogger("etl_targets.datasets")
        source.addHandler(handler)
        try:
            yield
        finally:
            source.removeHandler(handler)

    def banner(self, title: str, lines: Dict[str, str], **fields) -> None:
        """The start banner; in JSON, the ``start`` event with ``lines`` and ``fields``
        (which say in their own types what ``lines`` say in words: ``dates`` is a count)."""
        if self.fmt == "json":
            self.event("start", "started", "", **{**lines, **fields})
            return
        width = max(len(k) for k in lines)
        print(f"== {title}", file=self.out)
        for key, value in lines.items():
            print(f"   {key.ljust(width)}  {value}", file=self.out)
        self.out.flush()


class _DataWarnings(logging.Handler):
    def __init__(self, console: Console):
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        self.console.event("warning", "warning", f"   warning: {text}", warning=text)


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
