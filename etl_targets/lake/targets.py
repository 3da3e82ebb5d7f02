"""Luigi targets over any fsspec filesystem: one class serves local and S3.

:class:`FsspecFileSystem` adapts an fsspec filesystem to luigi's
``FileSystem`` contract; :class:`LakeTarget` is a ``FileSystemTarget`` whose
``exists()`` is strict (see :mod:`etl_targets.lake.storage`) and, during an
``etl-targets`` build, answered from one listing per stage
(:mod:`etl_targets.lake.context`); :class:`ParquetTarget` reads and writes Arrow
tables or pandas DataFrames. Every write is atomic.
"""

import contextlib
import io
import os
import posixpath
import shutil
import tempfile
from typing import BinaryIO, Iterator, Optional, Sequence, Tuple

import luigi.target
import luigi.task
import pyarrow as pa

from etl_targets import formats
from etl_targets.lake import context, storage
from etl_targets.lake.writer import atomic_writer

#: bytes copied at a time from a scratch file into the lake
COPY_CHUNK = 8 << 20


class FsspecFileSystem(luigi.target.FileSystem):
    """luigi's FileSystem contract over an fsspec filesystem."""

    def __init__(self, fs):
        self.fs = fs

    def exists(self, path: str) -> bool:
        return storage.exists(self.fs, path)

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        if not recursive and self.isdir(path):
            raise IsADirectoryError(path)
        storage.remove(self.fs, path)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        if raise_if_exists and self.exists(path):
            raise luigi.target.FileAlreadyExists(path)
        if not parents and not self.exists(posixpath.dirname(path.rstrip("/"))):
            raise luigi.target.MissingParentDirectory(path)
        self.fs.makedirs(path, exist_ok=True)

    def isdir(self, path: str) -> bool:
        return self.fs.isdir(path)

    def listdir(self, path: str):
        return sorted(self.fs.ls(path, detail=False))

    def copy(self, path: str, dest: str) -> None:
        """Streams ``path`` to ``dest`` through the atomic writer (bounded memory)."""
        with storage.open_input(self.fs, path) as reader, atomic_writer(self.fs, dest) as sink:
            storage.copy_stream(reader, sink)

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        if raise_if_exists and self.exists(dest):
            raise luigi.target.FileAlreadyExists(dest)
        self.copy(path, dest)
        self.remove(path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Moves only if ``dest`` does not exist (luigi's contract)."""
        self.move(path, dest, raise_if_exists=True)


class _AtomicOutput(io.BufferedIOBase):
    """A writable file over the context's atomic writer, for luigi's ``open("w")``.

    luigi's convention is that closing an output file publishes it. Writes
    stream through :meth:`BuildContext.writer` as they come; leaving a
    ``with`` block by an exception (or never closing the file) publishes
    nothing.
    """

    def __init__(self, target: "LakeTarget"):
        super().__init__()
        self._stack = contextlib.ExitStack()
        self._handle = self._stack.enter_context(
            context.current().writer(target.area, target.path))

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._handle.write(data)

    def close(self) -> None:
        """Publishes what was written."""
        if not self.closed:
            super().close()
            self._stack.close()

    def discard(self) -> None:
        """Drops what was written; nothing is published."""
        if not self.closed:
            super().close()
            self._stack.__exit__(RuntimeError, RuntimeError("discarded"), None)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        else:
            self.close()
        return False

    def __del__(self):
        # Never publish from the garbage collector: an unclosed file is abandoned.
        self.discard()


class _AtomicText(io.TextIOWrapper):
    """Text over :class:`_AtomicOutput`, with the same publish-only-on-success rule."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.buffer.discard()
            return False
        return super().__exit__(exc_type, exc, tb)

    def __del__(self):
        # io's finaliser would close, i.e. publish, an abandoned file.
        if not self.buffer.closed:
            self.buffer.discard()


class LakeTarget(luigi.target.FileSystemTarget):
    """A file in a storage area (the lake, the landing area, an ``--input``).

    Every operation goes through the current build context
    (:func:`etl_targets.lake.context.current`), which decides whether a
    listing answers ``exists()`` and whether bytes come from memory.

    Args:
        path: the file's path in ``area``; without ``area``, any fsspec URL.
        area: the resolved root the file belongs to.
        listing_prefix: the folder whose single listing may answer
            ``exists()`` for this and sibling targets during a build.
    """

    def __init__(self, path: str, area: Optional[context.Area] = None,
                 listing_prefix: Optional[str] = None):
        if area is None:
            area = context.Area(path)
            path = area.path
        super().__init__(path)
        self.area = area
        self.listing_prefix = listing_prefix

    @property
    def fs(self) -> FsspecFileSystem:
        return FsspecFileSystem(self.area.fs)

    @property
    def location(self) -> str:
        """The URL to show people: protocol included, credentials never."""
        return self.area.location(self.path)

    def exists(self) -> bool:
        return context.current().exists(self.area, self.path, self.listing_prefix)

    @contextlib.contextmanager
    def temporary_path(self) -> Iterator[str]:
        """A local scratch path for tools that write a file themselves.

        Replaces luigi's version, which writes ``<name>-luigi-tmp-NNN`` beside
        the target (visible to Parquet readers, left behind on failure). The
        scratch file lives in a private temporary folder, outside the lake,
        and is streamed through the atomic writer only when the block succeeds.
        """
        with tempfile.TemporaryDirectory(prefix=".etl-") as folder:
            scratch = os.path.join(folder, posixpath.basename(self.path))
            yield scratch
            with open(scratch, "rb") as source, self.writer() as sink:
                shutil.copyfileobj(source, sink, COPY_CHUNK)

    def open(self, mode: str = "r"):
        """``r``/``rb`` read; ``w``/``wb`` write atomically on close."""
        if "w" in mode:
            raw = _AtomicOutput(self)
            return raw if "b" in mode else _AtomicText(raw, encoding="utf-8")
        if mode not in ("r", "rb"):
            raise ValueError(f"unsupported mode {mode!r}")
        raw = self.open_binary()
        return raw if mode == "rb" else io.TextIOWrapper(raw, encoding="utf-8")

    def open_binary(self) -> BinaryIO:
        """A binary reader; bytes this build already holds are not re-fetched."""
        return context.current().open_input(self.area, self.path)

    def read_bytes(self) -> bytes:
        return context.current().read(self.area, self.path)

    def writer(self):
        """A context manager yielding a binary file published only on success."""
        return context.current().writer(self.area, self.path)

    def write_bytes(self, data: bytes) -> None:
        context.current().write(self.area, self.path, data)


class ParquetTarget(LakeTarget):
    """One Parquet file holding an Arrow table."""

    def read(self, columns: Optional[Sequence[str]] = None) -> pa.Table:
        """The table, decoding only ``columns`` when given."""
        return context.current().table(self.area, self.path, columns,
                                       lambda data: formats.from_parquet_bytes(data, columns))

    def read_pandas(self, columns: Optional[Sequence[str]] = None):
        return self.read(columns).to_pandas()

    def write(self, table) -> None:
        """Writes an Arrow table or a pandas DataFrame, atomically."""
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        self.write_bytes(formats.to_parquet_bytes(table))
        context.current().keep_table(self.area, self.path, table)

    def num_rows(self) -> int:
        return formats.parquet_num_rows(self.read_bytes())


def outputs_of(tasks) -> Iterator[Tuple[context.Area, str]]:
    """(area, path) of every lake or landing output of ``tasks`` (luigi tasks)."""
    for task in tasks:
        for target in luigi.task.flatten(task.output()):
            if isinstance(target, LakeTarget):
                yield target.area, target.path


def listing_prefixes_of(tasks) -> Iterator[Tuple[context.Area, str]]:
    """(area, prefix) of the listings that answer for the outputs of ``tasks``."""
    for task in tasks:
        for target in luigi.task.flatten(task.output()):
            if isinstance(target, LakeTarget) and target.listing_prefix is not None:
                yield target.area, target.listing_prefix
