"""A paged HTTP API as a landing area: one date's pages, fetched patiently, landed whole.

``GET {url}/{path}?date=YYYY-MM-DD&page=N`` (N = 1, 2, ...) with
``Authorization: Bearer <token>``; each 200 answer names the next page in a
JSON field (``next_page``, null on the last). The rules, from the data
contract (section 5):

* 200 is an answer, 404 means "not published yet" (absent, like a missing
  landing file); any other 4xx is refused at once (a wrong token is not an
  outage).
* 429, 5xx, refused or dropped connections and timeouts are transient:
  retried with exponential backoff and full jitter (tenacity), never sooner
  than a ``Retry-After`` asks, up to ``max_attempts`` per request. A server
  asking for more than ``retry_after_max`` seconds is not waited for.
* After ``circuit_failures`` consecutive transient failures the source's
  circuit opens for the rest of the build: every later request fails at
  once with :class:`~etl_targets.errors.CircuitOpen`, which says so.
* :meth:`PagedClient.pages` returns every page of a date or raises: a caller
  never holds half a date.

One :class:`PagedClient` serves one source for one build (:func:`client`):
it keeps the breaker and each date's first page, so the cheap existence
check (page 1) and the landing that follows it make one request for it, not
two. The token is sent, never shown: messages carry the URL without
credentials, and :class:`~etl_targets.config.HttpSourceSettings` keeps it
out of its ``repr``. A token that could not be sent as a header value
(:func:`~etl_targets.config.token_problem`) is refused before any request,
as a configuration error naming its variable and the offending character's
kind and position, never the token; and whatever a request raises becomes a
:class:`~etl_targets.errors.SourceUnavailable` naming the page, with the
token scrubbed out of its text (:meth:`PagedClient._scrub`).

Bronze keeps the bodies byte for byte, one per line (:func:`join_pages`);
each page's byte count in the manifest is what splits them again
(:func:`split_pages`), so a body holding a newline still reads back exactly.

No luigi and no pyarrow here: requests for HTTP, tenacity for the retries.
The breaker is a counter of our own: pybreaker's half-open recovery after a
timeout is what the contract rules out ("open for the rest of the run").
"""

import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import logging
import os
import time
import traceback
import weakref
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import requests
import tenacity
import urllib3

from etl_targets.config import HttpSourceSettings, token_problem
from etl_targets.errors import CircuitOpen, ConfigError, ContractError, SourceUnavailable
from etl_targets.lake.storage import redact

log = logging.getLogger(__name__)

#: the bronze file of a paged source: each page's body, one per line
PAGES_FILE = "pages.jsonl"
#: a date's chain of pages is not followed further (silver then reports the cut)
MAX_PAGES = 1000
#: statuses that mean "try again later"
TRANSIENT_STATUSES = frozenset({429}) | frozenset(range(500, 600))
NOT_PUBLISHED = 404
#: what stands in for the token wherever a foreign error's text held it
SCRUBBED = "REDACTED"


class Page(NamedTuple):
    """One page of a date as it arrived.

    Attributes:
        number: the page number asked for (1, 2, ...).
        url: the URL asked, without credentials.
        body: the 200 answer's body, byte for byte.
        fetched_at: when it arrived (UTC, ISO 8601).
        attempts: requests it took (1 when nothing had to be retried).
    """

    number: int
    url: str
    body: bytes
    fetched_at: str
    attempts: int = 1


class _Transient(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: Optional[float] = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Breaker:
    """Opens after ``threshold`` consecutive failures and stays open for the rest of the build.

    Args:
        threshold: consecutive failures that open it; a success resets the count.
        name: the source, for the message.
    """

    def __init__(self, threshold: int, name: str):
        self.threshold, self.name = threshold, name
        self.failures = 0
        self.reason: Optional[str] = None

    @property
    def open(self) -> bool:
        return self.reason is not None

    def check(self) -> None:
        """Raises CircuitOpen once the circuit is open."""
        if self.reason is not None:
            raise CircuitOpen(self.reason)

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, what: str) -> None:
        """Counts a failure; the one that reaches the threshold opens the circuit."""
        self.failures += 1
        if self.failures >= self.threshold and self.reason is None:
            self.reason = (f"{self.name} API circuit open after {self.failures} consecutive "
                           f"failures (last: {what}); no more requests to it in this run")
            log.error("%s", self.reason)


class PagedClient:
    """One HTTP source for one build: requests, retries, breaker and each date's first page.

    Args:
        settings: URL, token, timeouts, retry and breaker limits.
        path: the resource below the URL (``rates``).
        name: the source, in messages (``fx``).
        next_field: the JSON field naming the next page.
        sleep: how to wait between attempts (tests pass a recorder).
    """

    def __init__(self, settings: HttpSourceSettings, path: str, name: str,
                 next_field: str = "next_page", sleep: Callable[[float], None] = time.sleep):
        self.settings, self.path, self.name, self.next_field = settings, path, name, next_field
        self.breaker = Breaker(settings.circuit_failures, name)
        self._backoff = tenacity.wait_random_exponential(multiplier=settings.backoff_initial,
                                                         max=settings.backoff_max)
        self._sleep = sleep
        #: date -> its page 1 (None: a 404), or why it could not be had
        self._first: Dict[dt.date, Union[Page, None, SourceUnavailable]] = {}
        self._session: Optional[requests.Session] = None
        self._pid = os.getpid()

    # -- what callers ask ------------------------------------------------------

    def date_url(self, day: dt.date) -> str:
        """``{url}/{path}?date=D``, without credentials: where a date's pages are."""
        return redact(f"{self.settings.url}/{self.path}?date={day.isoformat()}")

    def published(self, day: dt.date) -> bool:
        """Whether page 1 of ``day`` is there (a 404: not published yet); asked once per build.

        Raises:
            SourceUnavailable: the API could not be asked (CircuitOpen once the
                circuit is open); :meth:`pages` raises the same, without asking again.
        """
        if day not in self._first:
            try:
                self._first[day] = self._get(day, 1)
            except SourceUnavailable as exc:
                self._first[day] = exc
        found = self._first[day]
        if isinstance(found, SourceUnavailable):
            raise found
        return found is not None

    def pages(self, day: dt.date) -> List[Page]:
        """Every page of ``day``, following ``next_page`` from page 1.

        A page whose body names no later page (the last, or one that is not
        even JSON) ends the chain: judging bodies is silver's job, so what
        arrived is returned as it is.

        Raises:
            SourceUnavailable: page 1 or a later page is not there, or the API
                failed (CircuitOpen once the circuit is open): nothing is returned.
        """
        first = self._first[day] if day in self._first else self._get(day, 1)
        if isinstance(first, SourceUnavailable):
            raise first  # the existence check's failure: the API is not asked again
        if first is None:
            raise SourceUnavailable(f"{self.date_url(day)}: not published (HTTP 404)")
        found = [first]
        while len(found) < MAX_PAGES:
            number = next_page(found[-1].body, found[-1].number, self.next_field)
            if number is None:
                break
            page = self._get(day, number)
            if page is None:
                raise SourceUnavailable(f"{self.page_url(day, number)}: HTTP 404, though page "
                                        f"{found[-1].number} names it as the next page")
            found.append(page)
        return found

    def page_url(self, day: dt.date, number: int) -> str:
        return f"{self.date_url(day)}&page={number}"

    # -- one page, patiently -----------------------------------------------------

    def _get(self, day: dt.date, number: int) -> Optional[Page]:
        """Page ``number`` of ``day`` (None for a 404), with retries and the breaker.

        Raises:
            ConfigError: no token to send, or one that cannot be sent (nothing is asked).
        """
        url = self.page_url(day, number)
        settings = self.settings
        self._check_token()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(settings.max_attempts),
            wait=self._wait, retry=tenacity.retry_if_exception_type(_Transient),
            sleep=self._sleep, reraise=True, before_sleep=self._log_retry(url))
        try:
            return retrying(self._attempt, day, number, url, retrying)
        except _Transient as exc:
            raise SourceUnavailable(f"{url} failed {settings.max_attempts} times "
                                    f"(last: {exc.reason}); giving up") from None

    def _check_token(self) -> None:
        """Refuses a token that is absent or could not be sent, naming its variable, never it."""
        variable = self.settings.token_variable or "the token variable"
        if not self.settings.token:
            raise ConfigError(f"{variable} is not set: "
                              f"the {self.name} API needs its bearer token in the environment")
        problem = token_problem(self.settings.token)
        if problem is not None:
            raise ConfigError(f"{variable} {problem}: a bearer token may hold only visible "
                              f"ASCII characters (no spaces, tabs, line breaks or other control "
                              f"characters); nothing was sent to the {self.name} API")

    def _attempt(self, day: dt.date, number: int, url: str, retrying) -> Optional[Page]:
        """One request: the page, None for a 404, or the failure as one of our errors.

        The one place where what requests (or anything below it) raises becomes
        ours: a transient failure to retry, or :class:`SourceUnavailable` naming
        the page. Every foreign text is scrubbed of the token first, and the
        foreign exception is not chained (its text could hold the token).
        """
        self.breaker.check()
        try:
            answer = self.session.get(
                f"{self.settings.url}/{self.path}",
                params={"date": day.isoformat(), "page": str(number)},
                headers={"Authorization": f"Bearer {self.settings.token}",
                         "Accept": "application/json"},
                timeout=(self.settings.connect_timeout, self.settings.read_timeout), stream=True)
            body = self._body(answer, url)
        except (_Transient, SourceUnavailable, CircuitOpen):
            raise
        except requests.ConnectTimeout:
            return self._failed(url, f"no connection within {self.settings.connect_timeout:g}s")
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError):
            return self._failed(url, f"no answer within {self.settings.read_timeout:g}s")
        except requests.ConnectionError as exc:
            return self._failed(url, f"connection failed ({_cause(exc, self._scrub)})")
        except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError,
                urllib3.exceptions.IncompleteRead):
            return self._failed(url, "connection dropped in the middle of the answer")
        except Exception as exc:  # noqa: BLE001 - any other error, requests' or not, is scrubbed
            raise self._foreign(url, exc) from None
        if answer.status_code in TRANSIENT_STATUSES:
            return self._failed(url, f"HTTP {answer.status_code}",
                                retry_after(answer.headers.get("Retry-After")))
        if answer.status_code not in (200, NOT_PUBLISHED):
            raise SourceUnavailable(f"{url}: HTTP {answer.status_code} ({self._refusal(answer)})")
        self.breaker.succeeded()
        if answer.status_code == NOT_PUBLISHED:
            return None
        attempts = retrying.statistics.get("attempt_number", 1)
        return Page(number, url, body, _now(), attempts)

    def _body(self, answer: requests.Response, url: str) -> bytes:
        """The answer's bytes as they arrive; an answer slower than ``answer_timeout`` is abandoned.

        ``read_timeout`` bounds each wait between bytes; this bounds the whole
        answer, so a server sending a byte now and then cannot hold a run
        (and its lock) for ever. Abandoning is a transient failure: retried.
        """
        deadline = time.monotonic() + self.settings.answer_timeout
        parts = []
        try:
            while True:
                part = answer.raw.read1(1 << 16, decode_content=True)  # what has arrived
                if not part:
                    return b"".join(parts)
                parts.append(part)
                if time.monotonic() > deadline:
                    return self._failed(url, f"answer not complete within "
                                             f"{self.settings.answer_timeout:g}s")
        finally:
            answer.close()

    def _foreign(self, url: str, exc: Exception) -> SourceUnavailable:
        """The page's error for what a request raised: one line, the token scrubbed out.

        The traceback, scrubbed the same way, goes to the log: it is not
        chained, as its text is what could hold the token.
        """
        log.warning("%s API: %s failed:\n%s", self.name, url, self._scrub("".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))).rstrip())
        text = " ".join(self._scrub(str(exc)).split())[:300]
        return SourceUnavailable(f"{url}: request failed ({type(exc).__name__}"
                                 f"{': ' + text if text else ''}); not retried")

    def _scrub(self, text: str) -> str:
        r"""``text`` without the token, as it is or escaped as ``repr`` and ``ascii`` show it.

        >>> settings = HttpSourceSettings(url="https://x", token="ab\ncd")
        >>> PagedClient(settings, "rates", "fx")._scrub("header value: 'Bearer ab\\ncd'")
        "header value: 'Bearer REDACTED'"
        """
        token = self.settings.token
        for spelling in sorted({token, repr(token)[1:-1], ascii(token)[1:-1]}, key=len,
                               reverse=True):
            if spelling:
                text = text.replace(spelling, SCRUBBED)
        return redact(text)

    def _refusal(self, answer: requests.Response) -> str:
        if answer.status_code in (401, 403):
            return f"the token was refused: check {self.settings.token_variable}"
        return "refused; not retried"

    def _failed(self, url: str, reason: str, wait: Optional[float] = None):
        """Counts a transient failure; raises it to be retried, or CircuitOpen once open."""
        self.breaker.failed(f"{reason} from {url}")
        self.breaker.check()
        if wait is not None and wait > self.settings.retry_after_max:
            raise SourceUnavailable(f"{url}: {reason} asking to retry after {wait:g}s, more "
                                    f"than retry_after_max ({self.settings.retry_after_max:g}s)")
        raise _Transient(reason, wait)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
        backoff = self._backoff(state)
        asked = getattr(state.outcome.exception(), "retry_after", None)
        return backoff if asked is None else max(backoff, asked)

    def _log_retry(self, url: str):
        def before_sleep(state: tenacity.RetryCallState) -> None:
            log.warning("%s API: %s from %s (attempt %d of %d); retrying in %.2fs", self.name,
                        state.outcome.exception(), url, state.attempt_number,
                        self.settings.max_attempts, state.next_action.sleep)
        return before_sleep

    @property
    def session(self) -> requests.Session:
        """A connection pool of this process (a forked worker opens its own)."""
        if self._session is None or self._pid != os.getpid():
            self._session, self._pid = requests.Session(), os.getpid()
        return self._session


def next_page(body: bytes, number: int, field: str = "next_page") -> Optional[int]:
    """The later page a body names, or None: the last page, or a body that names none readably."""
    try:
        found = json.loads(body)
    except ValueError:
        return None
    value = found.get(field) if isinstance(found, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > number:
        return value
    return None


def retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)  # delta-seconds (a fraction is accepted too)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def join_pages(pages: Sequence[Page]) -> bytes:
    """The bronze file: every body byte for byte, each followed by a newline."""
    return b"".join(page.body + b"\n" for page in pages)


def split_pages(data: bytes, sizes: Sequence[int], source: str) -> List[bytes]:
    """The bodies of a bronze file, by the byte counts its manifest gives.

    Raises:
        ContractError: the file does not hold exactly those pages.
    """
    bodies, offset = [], 0
    for size in sizes:
        bodies.append(data[offset:offset + size])
        if data[offset + size:offset + size + 1] != b"\n":
            raise ContractError(source, "does not match the page sizes of its manifest")
        offset += size + 1
    if offset != len(data):
        raise ContractError(source, "does not match the page sizes of its manifest")
    return bodies


def describe(pages: Sequence[Page]) -> List[dict]:
    """The manifest's ``pages``: number, URL, bytes, sha256, fetched_at and attempts of each."""
    return [{"page": p.number, "url": p.url, "bytes": len(p.body),
             "sha256": hashlib.sha256(p.body).hexdigest(), "fetched_at": p.fetched_at,
             "attempts": p.attempts} for p in pages]


def count_records(pages: Sequence[Page], field: str) -> Optional[int]:
    """Entries of ``field`` over every page, or None when a page does not hold a list there."""
    total = 0
    for page in pages:
        try:
            found = json.loads(page.body)
        except ValueError:
            return None
        records = found.get(field) if isinstance(found, dict) else None
        if not isinstance(records, list):
            return None
        total += len(records)
    return total


_CLIENTS: "weakref.WeakKeyDictionary[object, Dict[Tuple, PagedClient]]" = \
    weakref.WeakKeyDictionary()


def client(build, settings: HttpSourceSettings, path: str, name: str,
           next_field: str = "next_page") -> PagedClient:
    """The client of one source for one build: its breaker and first pages last as long as it.

    Args:
        build: the build context (:func:`etl_targets.lake.context.current`).
        settings, path, name, next_field: as for :class:`PagedClient`; other
            settings in the same build are another client.
    """
    clients = _CLIENTS.setdefault(build, {})
    key = (settings, path, name, next_field)
    if key not in clients:
        clients[key] = PagedClient(settings, path, name, next_field)
    return clients[key]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _cause(exc: BaseException, scrub: Callable[[str], str] = redact) -> str:
    """The innermost reason of a connection error (``[Errno 111] Connection refused``).

    Args:
        exc: the error requests raised.
        scrub: takes secrets out of its text, before any of it is cut away
            (a secret cut in half would no longer be recognised).
    """
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    return (scrub(str(exc)).rsplit(": ", 1)[-1].strip(" '()") or type(exc).__name__)[:200]
