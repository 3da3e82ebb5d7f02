"""What one build holds in memory: the bytes it read or wrote, and tables it decoded.

Both are bounded (by bytes, and tables also by count) and evict the least
recently used first, so a backfill of big days never piles up. The worker
threads of one build share them; every change happens under one lock.
"""

import collections
import threading
from typing import Dict, Optional

DEFAULT_CACHE_BYTES = 512 << 20
#: decoded tables kept per build: two months of one dataset's silver
TABLES_KEPT = 64


class ReadCache:
    """Bytes by key (a file's :meth:`Area.key`) and decoded tables by (key, columns).

    Args:
        cache_bytes: the most bytes kept, and the most the tables may weigh;
            a file over a quarter of it is never kept (it would evict the rest).
    """

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.limit = cache_bytes
        self._bytes: "collections.OrderedDict[str, bytes]" = collections.OrderedDict()
        self._size = 0
        self._tables: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
        self._table_bytes: Dict[tuple, int] = {}  # Table.nbytes walks every buffer: once each
        self._lock = threading.RLock()

    def bytes_of(self, key: str) -> Optional[bytes]:
        """The file's bytes if kept (and now the most recently used), else None."""
        with self._lock:
            data = self._bytes.get(key)
            if data is not None:
                self._bytes.move_to_end(key)
            return data

    def fits(self, size: int) -> bool:
        """Whether a file of ``size`` bytes would be kept."""
        return size <= self.limit // 4

    def keep_bytes(self, key: str, data: bytes) -> None:
        if not self.fits(len(data)):
            return
        with self._lock:
            self._drop_bytes(key)
            self._bytes[key] = data
            self._size += len(data)
            while self._size > self.limit:
                _, old = self._bytes.popitem(last=False)
                self._size -= len(old)

    def table(self, key: str, columns: tuple):
        """A kept table of ``columns`` of the file (all columns: ``()``), or None.

        A whole table kept (one this build wrote) answers any selection.
        """
        with self._lock:
            found = self._tables.get((key, columns))
            if found is not None:
                self._tables.move_to_end((key, columns))
                return found
            whole = self._tables.get((key, ()))
        return whole.select(list(columns)) if whole is not None and columns else whole

    def has_table(self, key: str, columns: tuple) -> bool:
        with self._lock:
            return (key, ()) in self._tables or (key, columns) in self._tables

    def keep_table(self, key: str, columns: tuple, table) -> None:
        weight = table.nbytes
        with self._lock:
            self._drop_table((key, columns))
            self._tables[(key, columns)] = table
            self._table_bytes[(key, columns)] = weight
            while len(self._tables) > TABLES_KEPT or (
                    len(self._tables) > 1 and sum(self._table_bytes.values()) > self.limit):
                self._drop_table(next(iter(self._tables)))

    def forget(self, key: str) -> None:
        """Drops the file's bytes and every table decoded from it (it is being rewritten)."""
        with self._lock:
            self._drop_bytes(key)
            for stale in [k for k in self._tables if k[0] == key]:
                self._drop_table(stale)

    def _drop_bytes(self, key: str) -> None:
        old = self._bytes.pop(key, None)
        if old is not None:
            self._size -= len(old)

    def _drop_table(self, key: tuple) -> None:
        if self._tables.pop(key, None) is not None:
            del self._table_bytes[key]
