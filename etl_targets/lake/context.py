"""The build context: the storage areas of one build and what it knows of them.

Stock luigi asks every target ``exists()`` on its own: on S3 one HTTP round
trip per target, so a no-op rerun of a year costs minutes. A build context
resolves the lake and the landing area once each into an :class:`Area`
(filesystem + root path), answers existence for many dates of one stage
from a single recursive listing of the stage's prefix, and keeps a bounded
cache of the files this build read or wrote (:mod:`etl_targets.lake.cache`).
The worker threads of one build share it.

There is always a context: :func:`current` returns the one a build put in
place with :func:`use`, or else the process's *direct* context, which lists
nothing, caches nothing and asks storage every time (what a plain ``luigi
--module etl_targets`` run gets). Targets therefore never ask "is there a
build under way"; they ask the current context, whatever its policy.

Trust is asymmetric on purpose. In a listing build a file seen in a listing
(or written by this process) exists for the rest of the build; absence is
trusted only while luigi is scheduling (:meth:`BuildContext.scheduling_done`
ends that): once tasks run, other worker processes or machines may write, so
an unseen path is then checked for real.
"""

import concurrent.futures
import contextlib
import contextvars
import io
import os
import threading
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, Optional, Set, Tuple

from etl_targets.errors import StorageError
from etl_targets.lake import fileinfo, storage
from etl_targets.lake.cache import DEFAULT_CACHE_BYTES, ReadCache
from etl_targets.lake.writer import atomic_writer

#: listings fetched at once by :meth:`BuildContext.prefetch`
LISTING_THREADS = 8
#: files fetched at once by :meth:`BuildContext.prefetch_reads`
READ_THREADS = 8


class Area:
    """A storage root (the lake, the landing area, one ``--input`` file) resolved once.

    The filesystem is re-opened in a forked worker process: s3fs clients
    (their event loop and connections) must not cross a ``fork``.

    Args:
        url: any fsspec URL; the path of every file in the area starts with
            :attr:`path`.
    """

    def __init__(self, url: str):
        self.url = url
        self._fs, self.path = storage.filesystem(url)
        self._pid = os.getpid()

    @property
    def fs(self):
        if self._pid != os.getpid():
            self._fs, _ = storage.filesystem(self.url)
            self._pid = os.getpid()
        return self._fs

    def join(self, *parts: str) -> str:
        """The filesystem path of ``parts`` below the root."""
        return storage.join(self.path, *parts)

    def location(self, path: str) -> str:
        """A URL for people and records: protocol included, credentials never."""
        return storage.location(self.fs, path)

    def key(self, path: str) -> str:
        """One spelling per file across areas (protocol included), for indexes."""
        return self.fs.unstrip_protocol(path)


class BuildContext:
    """Per-build memory of the lake.

    Args:
        listings: answer existence from one listing per stage prefix and keep
            a read cache; False gives the direct behaviour (ask storage).
        dry_run: keep every write in memory; the lake is never written.
        cache_bytes: bound of the read/write cache (dry-run writes are kept
            whatever their size: they are the only copy).
    """

    def __init__(self, listings: bool = True, dry_run: bool = False,
                 cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.uses_listings = listings
        self.dry_run = dry_run
        self.trust_absence = listings
        self.listing_count = 0
        #: task_id -> seconds its run() took, when it ran in this process
        self.durations: Dict[str, float] = {}
        self._areas: Dict[str, Area] = {}
        self._listings: Dict[str, Dict[str, dict]] = {}
        self._listing_lock = threading.Lock()  # one listing per prefix, whichever thread asks
        self._seen: Set[str] = set()
        self._overlay: Dict[str, bytes] = {}
        self._cache = ReadCache(cache_bytes if listings else 0)

    # -- areas ---------------------------------------------------------------

    def area(self, url: str) -> Area:
        """The area of a root URL, resolved once for this build."""
        found = self._areas.get(url)
        if found is None:
            found = self._areas[url] = Area(url)
        return found

    # -- existence -----------------------------------------------------------

    def exists(self, area: Area, path: str, prefix: Optional[str]) -> bool:
        """Existence from memory and one listing of ``prefix``, per the module's rules."""
        key = area.key(path)
        if key in self._seen or key in self._overlay:
            return True
        listed = self.uses_listings and prefix is not None
        if listed and key in self._listed(area, path, prefix):
            return True
        if listed and self.trust_absence:
            return False
        found = storage.exists(area.fs, path)
        if found and self.uses_listings:
            self._seen.add(key)
        return found

    def info(self, area: Area, path: str, prefix: Optional[str]) -> dict:
        """What storage knows of one file: from the listing when there is one, else asked.

        Raises:
            FileNotFoundError: the file is not there.
            StorageError: storage failed.
        """
        held = self._held(area.key(path))
        if held is not None:  # written by this build (a dry run's only copy)
            return {"size": len(held)}
        if self.uses_listings and prefix is not None:
            found = self._listing(area, prefix).get(area.key(path))
            if found is not None:
                return found
        return storage.file_info(area.fs, path)

    def known_size(self, area: Area, path: str, prefix: Optional[str]) -> Optional[int]:
        """The file's size if this build already knows it (held bytes, a listing); never asks.

        For progress reports, which must not cost a request per task.
        """
        held = self._held(area.key(path))
        if held is not None:
            return len(held)
        if self.uses_listings and prefix is not None:
            found = self._listing(area, prefix).get(area.key(path))
            if found is not None:
                return fileinfo.size(found)
        return None

    def scheduling_done(self) -> None:
        """From now on other processes may write: an unseen path is checked for real."""
        self.trust_absence = False

    def saw(self, files: Iterable[Tuple[Area, str]]) -> None:
        """Files known to exist from now on: outputs of tasks luigi reported done.

        A forked worker's writes never reach this process's memory; once the
        task is done, its outputs are as good as seen, and every worker
        process forked later inherits that knowledge instead of asking
        storage (a HEAD per input on S3).
        """
        if self.uses_listings:
            self._seen.update(area.key(path) for area, path in files)

    def next_window(self, relist: bool = False) -> None:
        """A backfill's next window is about to be scheduled: absence is trusted again.

        What earlier windows completed was :meth:`saw`; any other file absent
        from the listings is absent.

        Args:
            relist: forget the listings, so the next window lists afresh: with
                a central scheduler other machines write the same lake.
        """
        if not self.uses_listings:
            return
        if relist:
            self._listings.clear()
        self.trust_absence = True

    def _listed(self, area: Area, path: str, prefix: str) -> Dict[str, dict]:
        """The listing that answers for ``path``; a failure names the file that was asked about."""
        try:
            return self._listing(area, prefix)
        except StorageError as exc:
            raise StorageError(f"cannot check {area.location(path)}: {exc}") from exc

    def _listing(self, area: Area, prefix: str) -> Dict[str, dict]:
        key = area.key(prefix)
        found = self._listings.get(key)
        if found is None:
            with self._listing_lock:  # another worker thread may be listing it right now
                found = self._listings.get(key)
                if found is None:
                    found = self._store_listing(area, prefix,
                                                storage.list_details(area.fs, prefix))
        return found

    def _store_listing(self, area: Area, prefix: str, details: Dict[str, dict]) -> Dict[str, dict]:
        self.listing_count += 1
        found = self._listings[area.key(prefix)] = {area.key(p): i for p, i in details.items()}
        return found

    def listing(self, area: Area, prefix: str) -> Dict[str, dict]:
        """Every file below ``prefix`` (by :meth:`Area.key`) with its listed info.

        One listing per prefix and context, shared with ``exists()``: size,
        modification time and (S3) ETag come free with it.
        """
        return self._listing(area, prefix)

    def prefetch(self, prefixes: Iterable[Tuple[Area, str]]) -> None:
        """Lists several prefixes at once (a no-op rerun waits for the slowest, not the sum).

        Args:
            prefixes: (area, prefix) pairs; each is listed once per context.
        """
        if not self.uses_listings:
            return
        wanted = {area.key(prefix): (area, prefix) for area, prefix in prefixes}
        todo = [pair for key, pair in wanted.items() if key not in self._listings]
        if len(todo) < 2:
            for area, prefix in todo:
                self._listing(area, prefix)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(LISTING_THREADS, len(todo))) as pool:
            found = list(pool.map(lambda pair: storage.list_details(pair[0].fs, pair[1]), todo))
        for (area, prefix), paths in zip(todo, found):
            self._store_listing(area, prefix, paths)

    # -- reading -------------------------------------------------------------

    def read(self, area: Area, path: str) -> bytes:
        """The file's bytes, from memory when this build already has them."""
        key = area.key(path)
        held = self._held(key)
        if held is not None:
            return held
        data = storage.read_bytes(area.fs, path)
        self._remember(key, data)
        return data

    def prefetch_reads(self, targets: Iterable, columns=None) -> int:
        """Fetches many files at once into the read cache, so the reads that follow wait for none.

        A month-to-date table reads up to 31 silver files: one after the
        other on S3 that is 31 round trips, fetched together about one. The
        requests are exactly those the reads would make (one GET per file,
        no HEAD): only files the reads would fetch are fetched (not those
        this build holds as bytes, or decoded whole or with ``columns``),
        and only files whose size the listings the build already holds tell
        and that fit the cache (half of it in all), so that none is evicted
        before it is read. Any other file is left to its read.

        Args:
            targets: lake targets (``area``, ``path``, ``listing_prefix``),
                in the order they will be read.
            columns: the columns the reads will decode (see :meth:`table`).

        Returns:
            how many files were fetched.

        Raises:
            StorageError: a file could not be read (its read would fail alike).
        """
        if not self.uses_listings:
            return 0
        wanted = self._worth_fetching(targets, tuple(columns or ()))
        if len(wanted) < 2:
            return 0  # nothing to overlap: a single file is fetched by its read
        with concurrent.futures.ThreadPoolExecutor(min(READ_THREADS, len(wanted))) as pool:
            fetched = list(pool.map(lambda one: storage.read_bytes(one[0].fs, one[1]), wanted))
        for (_, _, key), data in zip(wanted, fetched):
            self._remember(key, data)
        return len(wanted)

    def _worth_fetching(self, targets: Iterable, columns: tuple) -> list:
        """(area, path, key) of the targets :meth:`prefetch_reads` fetches (see there)."""
        wanted, budget = [], self._cache.limit // 2
        for target in targets:
            area, path, prefix = target.area, target.path, target.listing_prefix
            key = area.key(path)
            if prefix is None or self._held(key) is not None or self._cache.has_table(key, columns):
                continue
            found = self._listings.get(area.key(prefix), {}).get(key)  # never a new listing
            size = fileinfo.size(found) if found is not None else None
            if size is None or not self._cache.fits(size) or size > budget:
                continue
            budget -= size
            wanted.append((area, path, key))
        return wanted

    def open_input(self, area: Area, path: str) -> BinaryIO:
        """A binary reader; bytes this build already holds are not fetched again."""
        held = self._held(area.key(path))
        if held is not None:
            return io.BytesIO(held)
        return storage.open_input(area.fs, path)

    def table(self, area: Area, path: str, columns, decode: Callable[[bytes], object]):
        """A decoded table, kept for the build (month-to-date re-reads each day 31 times).

        Args:
            columns: the columns decoded (part of the cache key).
            decode: turns the file's bytes into the table.
        """
        if not self.uses_listings and not self.dry_run:
            return decode(self.read(area, path))
        key, columns = area.key(path), tuple(columns or ())
        table = self._cache.table(key, columns)
        if table is None:
            table = decode(self.read(area, path))
            self._cache.keep_table(key, columns, table)
        return table

    def _held(self, key: str) -> Optional[bytes]:
        held = self._overlay.get(key)
        return held if held is not None else self._cache.bytes_of(key)

    # -- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, area: Area, path: str) -> Iterator[BinaryIO]:
        """A binary file published at ``path`` only if the block succeeds.

        Streams to storage through the one atomic writer; in a dry run the
        bytes are kept in this context instead, and the lake is untouched.
        """
        key = area.key(path)
        self._cache.forget(key)
        if self.dry_run:
            buffer = io.BytesIO()
            yield buffer
            self._overlay[key] = buffer.getvalue()
            return
        with atomic_writer(area.fs, path) as handle:
            yield handle
        if self.uses_listings:
            self._seen.add(key)

    def write(self, area: Area, path: str, data: bytes) -> None:
        """Publishes ``data`` (or keeps it, in a dry run) and remembers it."""
        with self.writer(area, path) as handle:
            handle.write(data)
        if not self.dry_run:
            self._remember(area.key(path), data)

    def keep_table(self, area: Area, path: str, table) -> None:
        """Remembers a table just written, so readers in this build skip decoding it."""
        if self.uses_listings or self.dry_run:
            self._cache.keep_table(area.key(path), (), table)

    def _remember(self, key: str, data: bytes) -> None:
        if self.uses_listings:
            self._seen.add(key)
        self._cache.keep_bytes(key, data)


_CURRENT: "contextvars.ContextVar[Optional[BuildContext]]" = contextvars.ContextVar(
    "etl_targets_build_context", default=None)
_DIRECT: Dict[int, BuildContext] = {}


def current() -> BuildContext:
    """The context of the build under way, or this process's direct context."""
    active = _CURRENT.get()
    if active is not None:
        return active
    pid = os.getpid()
    if pid not in _DIRECT:
        _DIRECT.clear()
        _DIRECT[pid] = BuildContext(listings=False)
    return _DIRECT[pid]


@contextlib.contextmanager
def use(context: BuildContext) -> Iterator[BuildContext]:
    """Makes ``context`` current for the duration of one build."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
