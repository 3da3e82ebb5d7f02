"""Sorted runs merged back in key order: sorting a day bigger than memory should hold.

Silver is sorted by its dedup key, and a key's winner can only be chosen
once every row of that key has been seen. A big landing file is therefore
read block by block, each block's valid rows sorted on their own (a *run*),
and the runs are merged: rows are released only below the smallest key any
run may still hold, so every key is released whole, in key order. Runs are
held in memory up to :data:`HELD_BYTES` in all, beyond it spilled to a
scratch folder as Arrow IPC files, and read back :data:`BATCH_ROWS` rows at a
time: the merge holds about one batch per run, whatever the size of the day.

Keys are compared as pyarrow sorts them: strings by their UTF-8 bytes (the
order of Python's code-point comparison), numbers, dates and timestamps by
value. Key columns never hold nulls (they are required columns).
"""

import os
import tempfile
import threading
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.compute as pc

#: runs held in memory up to this many bytes in all, then spilled to disk
HELD_BYTES = 16 << 20
#: spilled runs are written as they are: compressing costs more CPU than the
#: scratch folder's page cache costs time (a run is read back once, soon)
SPILL_COMPRESSION = None
#: rows per record batch of a spilled run, and per read during the merge
BATCH_ROWS = 4096
#: rows released by the merge are resolved (deduplicated) this many at a time
RESOLVE_ROWS = 1 << 16


class SortedRuns:
    """Runs added in any order (from several threads), merged once.

    Args:
        keys: the columns that order the rows and that :meth:`merged` keeps whole.
        scratch: the folder for spilled runs (default: the system's temporary folder).

    Use as a context manager: spilled files are removed on exit.
    """

    def __init__(self, keys: Sequence[str], scratch: Optional[str] = None):
        self.keys = list(keys)
        self._scratch = scratch
        self._folder: Optional[tempfile.TemporaryDirectory] = None
        self._runs: Dict[int, "_Run"] = {}
        self._held = 0
        self._lock = threading.Lock()

    def __enter__(self) -> "SortedRuns":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for run in self._runs.values():
            run.close()
        self._runs.clear()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def add(self, index: int, table: pa.Table) -> None:
        """Adds run ``index``: ``table`` sorted by :attr:`keys` (ties in any order)."""
        if table.num_rows == 0:
            return
        size = table.nbytes
        with self._lock:
            spill = self._held + size > HELD_BYTES
            if not spill:
                self._held += size
            folder = self._scratch_folder() if spill else None
        run = (_Run.spilled(self.keys, table, folder, index) if spill
               else _Run.held(self.keys, table))
        with self._lock:
            self._runs[index] = run

    def _scratch_folder(self) -> str:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix=".etl-runs-", dir=self._scratch)
        return self._folder.name

    def merged(self, resolve: Callable[[pa.Table], pa.Table]) -> Iterator[pa.Table]:
        """Every row, ``RESOLVE_ROWS`` or so at a time, through ``resolve``, in key order.

        Args:
            resolve: turns rows holding every row of each of their keys into
                the rows to keep, sorted by key (deduplication).
        """
        runs = [self._runs[index] for index in sorted(self._runs)]
        for run in runs:
            run.load()
        released: List[pa.Table] = []
        count = 0
        while True:
            loading = [run for run in runs if run.more]
            if not loading:
                released += [run.take_all() for run in runs if run.rows]
                break
            bound = min(loading, key=lambda run: run.last)
            for run in runs:
                if run.rows and run.first < bound.last:
                    part = run.take_below(bound.last)
                    released.append(part)
                    count += part.num_rows
            if count >= RESOLVE_ROWS:  # one chunk: a take over many small chunks costs more
                yield resolve(pa.concat_tables(released).combine_chunks())
                released, count = [], 0
            bound.load()
        released = [part for part in released if part.num_rows]
        if released:
            yield resolve(pa.concat_tables(released).combine_chunks())


class _Run:
    """One sorted run: its batches (in memory or in an IPC file) and the rows loaded so far."""

    def __init__(self, keys: Sequence[str], count: int, batch: Callable[[int], pa.RecordBatch],
                 schema: pa.Schema, closer: Callable[[], None] = lambda: None):
        self.keys = list(keys)
        self._count, self._batch, self._next, self._close = count, batch, 0, closer
        self.buffer = schema.empty_table()
        self.first = self.last = None

    @classmethod
    def held(cls, keys: Sequence[str], table: pa.Table) -> "_Run":
        batches = table.to_batches(max_chunksize=BATCH_ROWS)
        return cls(keys, len(batches), batches.__getitem__, table.schema)

    @classmethod
    def spilled(cls, keys: Sequence[str], table: pa.Table, folder: str, index: int) -> "_Run":
        path = os.path.join(folder, f"run-{index:06d}.arrow")
        options = pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)
        with pa.ipc.new_file(path, table.schema, options=options) as writer:
            writer.write_table(table, max_chunksize=BATCH_ROWS)
        source = pa.OSFile(path, "rb")  # read() copies: nothing stays mapped
        reader = pa.ipc.open_file(source)
        return cls(keys, reader.num_record_batches, reader.get_batch, table.schema, source.close)

    @property
    def more(self) -> bool:
        return self._next < self._count

    @property
    def rows(self) -> int:
        return self.buffer.num_rows

    def load(self) -> None:
        """Appends the next batch to the rows loaded."""
        if self.more:
            batch = self._batch(self._next)
            self._next += 1
            self.buffer = pa.concat_tables([self.buffer, pa.Table.from_batches([batch])])
            self._bounds()

    def take_below(self, bound: Tuple) -> pa.Table:
        """Removes and returns the loaded rows whose key is below ``bound`` (a prefix)."""
        below = pc.sum(_below(self.buffer, self.keys, bound)).as_py() or 0
        part, self.buffer = self.buffer.slice(0, below), self.buffer.slice(below)
        self._bounds()
        return part

    def take_all(self) -> pa.Table:
        part, self.buffer = self.buffer, self.buffer.slice(0, 0)
        return part

    def _bounds(self) -> None:
        rows = self.buffer.num_rows
        self.first = _key(self.buffer, self.keys, 0) if rows else None
        self.last = _key(self.buffer, self.keys, rows - 1) if rows else None

    def close(self) -> None:
        self._close()


def _key(table: pa.Table, keys: Sequence[str], row: int) -> Tuple:
    return tuple(table.column(name)[row].as_py() for name in keys)


def _below(table: pa.Table, keys: Sequence[str], bound: Tuple) -> pa.Array:
    """Rows whose keys are lexicographically below ``bound``."""
    below, equal = None, None
    for name, value in zip(keys, bound):
        column = table.column(name)
        scalar = pa.scalar(value, column.type)
        step = pc.less(column, scalar)
        step = step if equal is None else pc.and_(equal, step)
        below = step if below is None else pc.or_(below, step)
        same = pc.equal(column, scalar)
        equal = same if equal is None else pc.and_(equal, same)
    return below
