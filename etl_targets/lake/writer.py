"""The one streaming atomic writer: nothing is visible until complete, nothing left on failure.

Every writer of the package (targets, bronze copies, manifests, run
records) goes through :func:`atomic_writer`. Local: a temporary file beside
the target, fsynced, renamed over it. Elsewhere: a streamed upload (on S3 a
multipart upload, completed only on success, aborted on any error), never
a full local copy. A write that fits one block is a single ``PUT``.
:func:`remove_abandoned_writes` clears what killed writers (SIGKILL runs no
cleanup) left behind, by ownership rather than by age
(:mod:`etl_targets.lake.leftovers`). fsspec file objects commit on
``close()`` even when a ``with`` block raised, so they are never used as
context managers here.
"""

import contextlib
import functools
import io
import logging
import os
import posixpath
from typing import BinaryIO, Iterator, List, Optional

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.spec import AbstractBufferedFile

from etl_targets.errors import StorageError
from etl_targets.lake import leftovers, storage

log = logging.getLogger(__name__)

#: Part size of a streamed upload, and the most a writer holds in memory
#: (S3 allows 5 MiB to 5 GiB and 10,000 parts: 8 MiB parts reach 80 GiB).
WRITE_BLOCK_SIZE = 8 * 2**20


@contextlib.contextmanager
def atomic_writer(fs: fsspec.AbstractFileSystem, path: str,
                  block_size: int = WRITE_BLOCK_SIZE) -> Iterator[BinaryIO]:
    """Yields a binary file whose content is published at ``path`` only on success.

    Local: ``.<name>.<pid>-<host>-<hex>.tmp`` beside the target, fsynced and
    renamed over it, after removing the folder's abandoned temporary files
    (:func:`remove_abandoned_writes`). Elsewhere the bytes stream, with no
    local copy: up to ``block_size`` are held in memory, and a write that
    ends within them is one ``pipe_file`` (one PUT on S3). A longer one goes
    through ``fs.open(path, "wb", autocommit=False)`` - on S3 a multipart
    upload of ``block_size`` parts, completed only on success - after
    aborting unfinished uploads of the same key (one listing request, made
    only by such long writes). If the block raises, nothing is published and
    nothing is left behind.

    Args:
        fs: the destination filesystem.
        path: the destination's bare path on ``fs``.
        block_size: the most held in memory, and the part size (S3: >= 5 MiB).

    Raises:
        StorageError: when storage fails; the block's own exceptions pass unchanged.
    """
    if storage.is_local(fs):
        with _local_atomic(fs, path) as handle:
            yield handle
        return
    upload = _StreamingUpload(fs, path, block_size)
    try:
        yield upload
        upload.publish()
    except BaseException:
        upload.abandon()
        raise


@contextlib.contextmanager
def _local_atomic(fs: LocalFileSystem, path: str) -> Iterator[BinaryIO]:
    folder, name = posixpath.split(path)
    failures = functools.partial(storage.failures, "write", fs, path, passes=())
    with failures():  # a folder that is not writable: one error naming the file
        fs.makedirs(folder, exist_ok=True)
    with _housekeeping(fs, folder):
        remove_abandoned_writes(fs, folder)
    temporary = posixpath.join(folder, leftovers.temporary_name(name))
    try:
        with failures():
            handle = _LocalTemporary(temporary, storage.location(fs, path))
        with handle:
            yield handle
            with failures():
                handle.flush()
                os.fsync(handle.fileno())
        with failures():
            os.replace(temporary, path)  # a rename within one folder: atomic on POSIX
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


class _LocalTemporary(io.BufferedWriter):
    """A local write's temporary file: a failed write (a full disk) is a StorageError naming
    the destination, not a bare ``OSError`` among the caller's own exceptions."""

    def __init__(self, temporary: str, destination: str):
        super().__init__(io.FileIO(temporary, "wb"))
        self._destination = destination

    def write(self, data) -> int:
        with self._failures():
            return super().write(data)

    def flush(self) -> None:
        with self._failures():
            super().flush()

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(f"cannot write {self._destination}: {storage.reason(exc)}") from exc


class _StreamingUpload(io.BufferedIOBase):
    """What :func:`atomic_writer` yields off the local disk: a block in memory, then a stream.

    ``memory://`` ignores ``autocommit=False`` (a file appears when opened),
    so there everything is kept and piped at the end: it is memory anyway.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, path: str, block_size: int):
        super().__init__()
        self._fs, self._path, self._block_size = fs, path, block_size
        self._streams = not isinstance(fs, MemoryFileSystem)
        self._head: Optional[io.BytesIO] = io.BytesIO()
        self._stream = None
        self._written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a finished upload")
        with storage.failures("write", self._fs, self._path, passes=()):
            if self._stream is not None:
                self._stream.write(data)
            else:
                self._head.write(data)
                if self._streams and self._head.tell() >= self._block_size:
                    self._start_stream()
        size = memoryview(data).nbytes
        self._written += size
        return size

    def _start_stream(self) -> None:
        if storage.is_s3(self._fs):
            bucket, key, _ = self._fs.split_path(self._path)
            with _housekeeping(self._fs, self._path):
                for leftover in leftovers.abort_uploads(self._fs, bucket, key,
                                               lambda upload, age: upload["Key"] == key):
                    log.info("aborted an abandoned upload of %s", leftover)
        self._stream = self._fs.open(self._path, "wb", autocommit=False,
                                     block_size=self._block_size)
        head, self._head = self._head, None
        self._stream.write(head.getbuffer())

    def publish(self) -> None:
        """Makes the content visible at the destination, in one step."""
        with storage.failures("write", self._fs, self._path, passes=()):
            if self._stream is None:
                self._fs.pipe_file(self._path, self._head.getvalue())
            else:
                self._stream.close()  # sends the last part; autocommit=False keeps it invisible
                self._stream.commit()  # s3fs: CompleteMultipartUpload
        self._release()

    def abandon(self) -> None:
        """Throws the content away; an upload that cannot be aborted is logged, for the sweep."""
        stream = self._stream
        if stream is not None:
            try:
                stream.discard()  # s3fs: AbortMultipartUpload
            except Exception as exc:  # noqa: BLE001 - the block's own error matters more
                log.warning("cannot abort the upload of %s: %s",
                            storage.location(self._fs, self._path), storage.reason(exc))
            if isinstance(stream, AbstractBufferedFile):
                stream.closed = True  # discard() leaves it open; __del__ would flush into the abort
        self._release()

    def _release(self) -> None:
        if self._stream is not None:
            # fsspec queues every autocommit=False file on the filesystem's shared
            # transaction, even outside one; ours is settled, so take it off.
            with contextlib.suppress(ValueError):
                self._fs.transaction.files.remove(self._stream)
        self._head = self._stream = None
        self.close()


@contextlib.contextmanager
def _housekeeping(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[None]:
    """Clears leftovers inside a write, where a failure is logged, never the write's.

    Listing uploads, say, may not be permitted; :func:`remove_abandoned_writes` raises.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - logged; the write itself is what matters
        log.warning("cannot clear abandoned writes at %s: %s", storage.location(fs, path),
                    storage.reason(exc))


def remove_abandoned_writes(fs: fsspec.AbstractFileSystem, folder: str,
                            older_than: float = 0.0) -> List[str]:
    """Removes what killed writes left in ``folder`` (not below it); returns what it removed.

    A SIGKILLed writer runs no cleanup, and concurrent writers may share the
    folder, so leftovers are told by their owner rather than by age:

    * Local (run by :func:`atomic_writer` before each write: one folder
      scan): a ``.<name>.<pid>-<host>-<hex>.tmp`` of this host whose process
      is gone, a zombie, or started after the file was last written (a
      reused pid). One of another host, or of an older naming, once
      unmodified for ``UNOWNED_TEMP_AGE``.
    * S3: every unfinished multipart upload of a key in the folder that the
      server initiated at least ``older_than`` seconds ago. The caller must
      own the folder, as a luigi task owns its partition: with the default 0
      a live writer's upload there is aborted too. Cost: one
      ``ListMultipartUploads`` (per thousand uploads) and one DELETE per
      abort. :func:`atomic_writer` only aborts its own key's, when streaming.

    Args:
        fs: the folder's filesystem.
        folder: the folder's bare path on ``fs``.
        older_than: seconds; S3 uploads initiated more recently are kept.

    Raises:
        StorageError: when the folder cannot be scanned or a leftover removed.
    """
    removed: List[str] = []
    with (storage.failures("clear abandoned writes in", fs, folder),
          contextlib.suppress(FileNotFoundError)):  # no folder or no bucket: nothing left
        if storage.is_local(fs):
            removed = leftovers.remove_local_temporaries(folder)
        elif storage.is_s3(fs):
            bucket, key, _ = fs.split_path(folder)
            prefix = key.rstrip("/") + "/" if key else ""
            removed = leftovers.abort_uploads(fs, bucket, prefix, lambda upload, age: (
                "/" not in upload["Key"][len(prefix):] and age >= older_than))
    for leftover in removed:
        log.info("removed an abandoned write: %s", leftover)
    return removed


def write_bytes(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Publishes ``data`` at ``path`` atomically."""
    with atomic_writer(fs, path) as handle:
        handle.write(data)
