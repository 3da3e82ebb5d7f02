"""What one build knows about the lake: listings, fresh writes, dry-run output.

Stock luigi asks every target ``exists()`` on its own: on S3 one HTTP round
trip per target, so a no-op rerun of a year costs minutes. A
:class:`LakeSession` answers existence for many dates of one stage from a
single recursive listing of the stage's prefix, made once per build and
never reused by another build.

Trust is asymmetric on purpose. A file seen in the listing (or written by
this process) exists for the rest of the build. Absence is trusted only
while luigi is scheduling; once tasks run, other worker processes or
machines may have written since, so an unseen path is checked for real.

The same object holds a bounded cache of files this process wrote or read
(month-to-date re-reads the month's silver files many times in a backfill),
and, in a dry run, it is where writes go instead of the lake.
"""

import collections
import concurrent.futures
import contextlib
from typing import Callable, Dict, Iterator, Optional, Set

from etl_targets.lake import storage

DEFAULT_CACHE_BYTES = 512 << 20
#: decoded tables kept per build: two months of one dataset's silver
TABLES_KEPT = 64

_active: Optional["LakeSession"] = None


class LakeSession:
    """Per-build memory of the lake.

    Args:
        dry_run: keep every write in memory; the lake is never written.
        cache_bytes: bound of the read/write cache (dry-run writes are kept
            whatever their size: they are the only copy).
    """

    def __init__(self, dry_run: bool = False, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.dry_run = dry_run
        self.trust_absence = True
        self.listing_count = 0
        #: task_id -> seconds its run() took, when it ran in this process
        self.durations: Dict[str, float] = {}
        self._listings: Dict[str, Set[str]] = {}
        self._seen: Set[str] = set()
        self._overlay: Dict[str, bytes] = {}
        self._cache: "collections.OrderedDict[str, bytes]" = collections.OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached_size = 0
        self._tables: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()

    def exists(self, fs, path: str, prefix: Optional[str]) -> bool:
        """Existence from memory and one listing of ``prefix``, per the rules above."""
        key = _key(fs, path)
        if key in self._seen or key in self._overlay:
            return True
        if prefix is not None and key in self._listing(fs, prefix):
            return True
        if self.trust_absence and prefix is not None:
            return False
        found = storage.exists(fs, path)
        if found:
            self._seen.add(key)
        return found

    def _listing(self, fs, prefix: str) -> Set[str]:
        key = _key(fs, prefix)
        if key not in self._listings:
            self.listing_count += 1
            self._listings[key] = {_key(fs, p) for p in storage.list_files(fs, prefix)}
        return self._listings[key]

    def prefetch(self, prefixes) -> None:
        """Lists several prefixes at once (a no-op rerun waits for the slowest, not the sum).

        Args:
            prefixes: (filesystem, prefix) pairs; each is listed once per session.
        """
        wanted = {_key(fs, prefix): (fs, prefix) for fs, prefix in prefixes}
        todo = [pair for key, pair in wanted.items() if key not in self._listings]
        if len(todo) < 2:
            for fs, prefix in todo:
                self._listing(fs, prefix)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(todo))) as pool:
            listings = list(pool.map(lambda pair: storage.list_files(*pair), todo))
        for (fs, prefix), paths in zip(todo, listings):
            self.listing_count += 1
            self._listings[_key(fs, prefix)] = {_key(fs, p) for p in paths}

    def write(self, fs, path: str, data: bytes) -> None:
        """Publishes ``data`` (or keeps it, in a dry run) and remembers it."""
        key = _key(fs, path)
        if self.dry_run:
            self._overlay[key] = data
            for stale in [k for k in self._tables if k[0] == key]:
                del self._tables[stale]
            return
        storage.write_bytes(fs, path, data)
        self._seen.add(key)
        self._remember(key, data)
        for stale in [k for k in self._tables if k[0] == key]:
            del self._tables[stale]

    def read(self, fs, path: str) -> bytes:
        """The file's bytes from memory when this build already has them."""
        key = _key(fs, path)
        if key in self._overlay:
            return self._overlay[key]
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        data = storage.read_bytes(fs, path)
        self._seen.add(key)
        self._remember(key, data)
        return data

    def table(self, fs, path: str, columns, decode: Callable[[bytes], object]):
        """A decoded table, kept for the build (month-to-date re-reads each day 31 times).

        Args:
            columns: the columns decoded (part of the cache key).
            decode: turns the file's bytes into the table.
        """
        key = (_key(fs, path), tuple(columns or ()))
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        whole = self._tables.get((_key(fs, path), ()))
        if whole is not None:  # written in this build: select, do not decode
            return whole.select(list(columns)) if columns else whole
        table = decode(self.read(fs, path))
        self._keep(key, table)
        return table

    def _keep(self, key: tuple, table) -> None:
        """Bounded by count and by bytes: a backfill of big days must not pile up tables."""
        self._tables.pop(key, None)
        self._tables[key] = table
        while len(self._tables) > TABLES_KEPT or (
                len(self._tables) > 1 and
                sum(t.nbytes for t in self._tables.values()) > self._cache_bytes):
            self._tables.popitem(last=False)

    def keep_table(self, fs, path: str, table) -> None:
        """Remembers a table just written, so readers in this build skip decoding it."""
        self._keep((_key(fs, path), ()), table)

    def held(self, fs, path: str) -> Optional[bytes]:
        """The bytes if this build holds them, without touching storage."""
        key = _key(fs, path)
        return self._overlay.get(key, self._cache.get(key))

    def _remember(self, key: str, data: bytes) -> None:
        if len(data) > self._cache_bytes // 4:
            return
        if key in self._cache:
            self._cached_size -= len(self._cache.pop(key))
        self._cache[key] = data
        self._cached_size += len(data)
        while self._cached_size > self._cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_size -= len(old)


def _key(fs, path: str) -> str:
    return fs.unstrip_protocol(path)


def current() -> Optional[LakeSession]:
    """The session of the build under way in this process, if any."""
    return _active


@contextlib.contextmanager
def activate(session: LakeSession) -> Iterator[LakeSession]:
    """Makes ``session`` current for the duration of one build."""
    global _active
    previous, _active = _active, session
    try:
        yield session
    finally:
        _active = previous
