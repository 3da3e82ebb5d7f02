"""A rates API on a loopback port, run by the tests: paged rates, and the faults the contract names.

A real HTTP server (``ThreadingHTTPServer`` in a thread, on a port the
system picks) that the pipeline reaches over TCP, as it reaches the real
service. It serves ``GET /api/rates?date=YYYY-MM-DD&page=N`` for any date
from a fixture dict of rates, in pages of ``page_size``, and answers 401
unless the request carries ``Authorization: Bearer <token>``. It can be told
to answer a request with a status (429 with ``Retry-After``, 500...), slowly,
not at all (the connection dropped), or with another body; a date can be
unpublished (404). :func:`rates_server` always stops it.

Standard library only; nothing here imports ``etl_targets``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import threading
import time
import urllib.parse
from typing import Dict, Iterator, List, Mapping, Optional

#: the path below the server's root where the API lives (its ``fx_api_url`` ends with it)
BASE_PATH = "/api"
#: what the ``rates_api`` fixture serves for any date: two pages of two (USD is left out)
SAMPLE_RATES = {"CHF": "0.881234", "EUR": "0.921350", "GBP": "0.789012", "JPY": "155.123456"}
#: the bearer token it accepts; distinctive, so a test can grep for it everywhere
TEST_TOKEN = "fx-token-7f3a9c-never-print-me"


@dataclasses.dataclass
class Fault:
    """How to answer matching requests instead of the normal page.

    Attributes:
        kind: ``status``, ``slow``, ``drip``, ``cut``, ``drop`` or ``body``.
        times: how many matching requests it answers; None: every one.
        page: only this page number (None: any).
        date: only this date, ISO (None: any).
        status: for ``status``.
        retry_after: the ``Retry-After`` header sent with a status.
        seconds: for ``slow``: the wait before the normal answer; for ``drip``:
            between two bytes of it.
        body: for ``body``: what a 200 answer carries.
    """

    kind: str
    times: Optional[int] = None
    page: Optional[int] = None
    date: Optional[str] = None
    status: int = 500
    retry_after: Optional[str] = None
    seconds: float = 0.0
    body: bytes = b""

    def matches(self, date: str, page: int) -> bool:
        return (self.times is None or self.times > 0) and self.page in (None, page) \
            and self.date in (None, date)


@dataclasses.dataclass
class Request:
    """One request as the server saw it (the token itself is not kept)."""

    date: Optional[str]
    page: Optional[int]
    authorized: bool
    status: Optional[int]  # None: no answer (dropped)
    at: float  # time.monotonic() when it arrived


class RatesServer:
    """The server's state, shared with its handler threads.

    Args:
        rates: currency -> rate text, served for any date.
        token: the bearer token it accepts.
        page_size: rates per page.
        by_date: date (ISO) -> rates served for that date instead.
    """

    def __init__(self, rates: Mapping[str, str], token: str, page_size: int = 2,
                 by_date: Optional[Mapping[str, Mapping[str, str]]] = None):
        self.rates, self.token, self.page_size = dict(rates), token, page_size
        self.by_date = {d: dict(r) for d, r in (by_date or {}).items()}
        self.unpublished: set = set()
        self.faults: List[Fault] = []
        self.requests: List[Request] = []
        self.lock = threading.Lock()
        self.url = ""  # set once listening: http://127.0.0.1:<port>/api

    # -- what tests set up ---------------------------------------------------------

    def fail(self, status: int, *, times: Optional[int] = None, page: Optional[int] = None,
             date: Optional[str] = None, retry_after: Optional[str] = None) -> None:
        """Answer matching requests with ``status`` (and ``Retry-After``)."""
        self._add(Fault("status", times, page, date, status=status, retry_after=retry_after))

    def slow(self, seconds: float, *, times: Optional[int] = None,
             page: Optional[int] = None) -> None:
        """Wait ``seconds`` before answering matching requests."""
        self._add(Fault("slow", times, page, seconds=seconds))

    def drip(self, seconds: float, *, times: Optional[int] = None,
             page: Optional[int] = None) -> None:
        """Answer normally, but send the body one byte every ``seconds`` (never a long gap)."""
        self._add(Fault("drip", times, page, seconds=seconds))

    def cut(self, *, times: Optional[int] = None, page: Optional[int] = None) -> None:
        """Promise the whole body (Content-Length), send half of it, and close the connection."""
        self._add(Fault("cut", times, page))

    def drop(self, *, times: Optional[int] = None, page: Optional[int] = None) -> None:
        """Close the connection of matching requests without an answer."""
        self._add(Fault("drop", times, page))

    def serve(self, body: bytes, *, page: int, date: Optional[str] = None,
              times: Optional[int] = None) -> None:
        """Answer page ``page`` with 200 and ``body`` instead of the real page."""
        self._add(Fault("body", times, page, date, body=body))

    def clear(self) -> None:
        """The faults are over."""
        with self.lock:
            self.faults.clear()

    def _add(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    # -- what it serves --------------------------------------------------------------

    def rates_of(self, date: str) -> Dict[str, str]:
        return self.by_date.get(date, self.rates)

    def page_count(self, date: str) -> int:
        return max(1, -(-len(self.rates_of(date)) // self.page_size))

    def body(self, date: str, page: int) -> bytes:
        """The normal body of one page: compact JSON, on one line."""
        items = sorted(self.rates_of(date).items())
        chunk = items[(page - 1) * self.page_size:page * self.page_size]
        last = page >= self.page_count(date)
        return json.dumps({"date": date, "base": "USD", "page": page,
                           "next_page": None if last else page + 1,
                           "rates": [{"currency": c, "rate": r} for c, r in chunk]}).encode()

    def bodies(self, date: str) -> List[bytes]:
        return [self.body(date, n) for n in range(1, self.page_count(date) + 1)]

    def requests_for(self, page: Optional[int] = None) -> List[Request]:
        with self.lock:
            return [r for r in self.requests if page in (None, r.page)]

    def take_fault(self, date: str, page: int) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.matches(date, page):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "RatesTest/1"
    state: RatesServer  # set per server class

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        arrived = time.monotonic()
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        date = (query.get("date") or [None])[0]
        page_text = (query.get("page") or [None])[0]
        page = int(page_text) if page_text and page_text.isdigit() else None
        authorized = self.headers.get("Authorization") == f"Bearer {self.state.token}"
        seen = Request(date, page, authorized, None, arrived)
        self.state.record(seen)  # on arrival: a slow answer is counted before it is sent
        if not seen.authorized:
            return self._answer(seen, 401, b'{"error": "unauthorized"}')
        if parsed.path != f"{BASE_PATH}/rates" or date is None or page is None or page < 1:
            return self._answer(seen, 400, b'{"error": "bad request"}')
        fault = self.state.take_fault(date, page)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return None
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self._answer(seen, fault.status, b'{"error": "try later"}', headers)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "body":
            return self._answer(seen, 200, fault.body)
        if date in self.state.unpublished or page > self.state.page_count(date):
            return self._answer(seen, 404, b'{"error": "not published"}')
        return self._answer(seen, 200, self.state.body(date, page), fault=fault)

    def _answer(self, seen: Request, status: int, body: bytes,
                headers: Optional[Dict[str, str]] = None, fault: Optional[Fault] = None) -> None:
        seen.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if fault is not None and fault.kind == "cut":
                self.wfile.write(body[:len(body) // 2])
                self.close_connection = True
                return
            if fault is not None and fault.kind == "drip":
                for at in range(len(body)):
                    self.wfile.write(body[at:at + 1])
                    self.wfile.flush()
                    time.sleep(fault.seconds)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a slow answer)
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
        pass  # quiet: the tests read ``requests``


@contextlib.contextmanager
def rates_server(rates: Mapping[str, str], token: str, **options) -> Iterator[RatesServer]:
    """Runs a :class:`RatesServer` on a free loopback port and yields it; always stops it."""
    state = RatesServer(rates, token, **options)
    handler = type("Handler", (_Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    state.url = f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="rates-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
