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
import tempfile
from typing import Iterator, Optional, Sequence

import luigi.target
import pyarrow as pa

from etl_targets import formats
from etl_targets.lake import context as session, storage


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
        if not parents and not self.exists(self.fs._parent(path)):
            raise luigi.target.MissingParentDirectory(path)
        self.fs.makedirs(path, exist_ok=True)

    def isdir(self, path: str) -> bool:
        return self.fs.isdir(path)

    def listdir(self, path: str):
        return sorted(self.fs.ls(path, detail=False))

    def copy(self, path: str, dest: str) -> None:
        storage.write_bytes(self.fs, dest, storage.read_bytes(self.fs, path))

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        if raise_if_exists and self.exists(dest):
            raise luigi.target.FileAlreadyExists(dest)
        self.copy(path, dest)
        self.remove(path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Moves only if ``dest`` does not exist (luigi's contract)."""
        self.move(path, dest, raise_if_exists=True)


class _AtomicOutput(io.BufferedIOBase):
    """A writable file that publishes on ``close()`` and discards on error.

    luigi's convention is that closing an output file publishes it; unlike
    fsspec's files, leaving a ``with`` block by an exception publishes
    nothing.
    """

    def __init__(self, target: "LakeTarget"):
        super().__init__()
        self._target = target
        self._buffer = io.BytesIO()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self._buffer.write(data)

    def close(self) -> None:
        if not self.closed:
            self._target.write_bytes(self._buffer.getvalue())
            super().close()

    def discard(self) -> None:
        self._buffer = io.BytesIO()
        super().close()

    def __del__(self):
        # Never publish from the garbage collector: an unclosed file is abandoned.
        if not self.closed:
            self.discard()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
            return False
        self.close()
        return False


class _AtomicText(io.TextIOWrapper):
    """Text over :class:`_AtomicOutput`, with the same publish-only-on-success rule."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.detach().discard()
            return False
        return super().__exit__(exc_type, exc, tb)

    def __del__(self):
        try:
            abandoned = not self.closed
        except ValueError:  # already detached by __exit__: nothing left to discard
            return
        if abandoned:
            self.detach().discard()


class LakeTarget(luigi.target.FileSystemTarget):
    """A file at any fsspec URL.

    Args:
        url: the file's URL (a local path, ``file://`` or ``s3://``).
        listing_prefix: the folder whose single listing may answer
            ``exists()`` for this and sibling targets during a build.
    """

    def __init__(self, url: str, listing_prefix: Optional[str] = None):
        fs, path = storage.filesystem(url)
        super().__init__(path)
        self.url = url
        self._fs = fs
        # Same backend as the file: strip the protocol without opening it again.
        self.listing_prefix = fs._strip_protocol(listing_prefix).rstrip("/") if listing_prefix else None

    @property
    def fs(self) -> FsspecFileSystem:
        return FsspecFileSystem(self._fs)

    @property
    def location(self) -> str:
        """The URL to show people: protocol included, credentials never."""
        return storage.location(self._fs, self.path)

    def exists(self) -> bool:
        active = session.current()
        if active is None:
            return storage.exists(self._fs, self.path)
        return active.exists(self._fs, self.path, self.listing_prefix)

    @contextlib.contextmanager
    def temporary_path(self) -> Iterator[str]:
        """A local scratch path for tools that write a file themselves.

        Replaces luigi's version, which writes ``<name>-luigi-tmp-NNN`` beside
        the target (visible to Parquet readers, left behind on failure). The
        scratch file lives in a private temporary folder, outside the lake,
        and is published atomically only when the block succeeds.
        """
        with tempfile.TemporaryDirectory(prefix=".etl-") as folder:
            scratch = os.path.join(folder, posixpath.basename(self.path))
            yield scratch
            with open(scratch, "rb") as handle:
                self.write_bytes(handle.read())

    def open(self, mode: str = "r"):
        """``r``/``rb`` read; ``w``/``wb`` write atomically on close."""
        if "w" in mode:
            raw = _AtomicOutput(self)
            return raw if "b" in mode else _AtomicText(raw, encoding="utf-8")
        if mode not in ("r", "rb"):
            raise ValueError(f"unsupported mode {mode!r}")
        raw = self.open_binary()
        return raw if mode == "rb" else io.TextIOWrapper(raw, encoding="utf-8")

    def open_binary(self):
        """A binary reader; bytes this build already holds are not re-fetched."""
        active = session.current()
        held = active.held(self._fs, self.path) if active else None
        if held is not None:
            return io.BytesIO(held)
        return storage.open_input(self._fs, self.path)

    def read_bytes(self) -> bytes:
        active = session.current()
        if active is None:
            return storage.read_bytes(self._fs, self.path)
        return active.read(self._fs, self.path)

    def write_bytes(self, data: bytes) -> None:
        active = session.current()
        if active is None:
            storage.write_bytes(self._fs, self.path, data)
        else:
            active.write(self._fs, self.path, data)


class ParquetTarget(LakeTarget):
    """One Parquet file holding an Arrow table."""

    def read(self, columns: Optional[Sequence[str]] = None) -> pa.Table:
        """The table, decoding only ``columns`` when given."""
        active = session.current()
        if active is None:
            return formats.from_parquet_bytes(self.read_bytes(), columns)
        return active.table(self._fs, self.path, columns,
                            lambda data: formats.from_parquet_bytes(data, columns))

    def read_pandas(self, columns: Optional[Sequence[str]] = None):
        return self.read(columns).to_pandas()

    def write(self, table) -> None:
        """Writes an Arrow table or a pandas DataFrame, atomically."""
        if not isinstance(table, pa.Table):
            table = pa.Table.from_pandas(table, preserve_index=False)
        self.write_bytes(formats.to_parquet_bytes(table))
        active = session.current()
        if active is not None:
            active.keep_table(self._fs, self.path, table)

    def num_rows(self) -> int:
        return formats.parquet_num_rows(self.read_bytes())
