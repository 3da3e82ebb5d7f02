"""Every byte of I/O, over fsspec, the backend chosen only by the URL.

A local folder, ``file://``, ``memory://`` and ``s3://`` go through the same
functions. The module is deliberately strict where fsspec is lenient:

* :func:`exists` answers False only for "not found"; any other failure
  (permission, expired credential, network) raises :class:`StorageError`,
  because in a make-like graph "absent" means "rebuild and overwrite".
* :func:`atomic_writer` publishes only on success and streams: memory stays
  a few blocks whatever the size. fsspec file objects commit on ``close()``
  even when a ``with`` block raised, so they are never used as context
  managers here.
* :func:`remove_abandoned_writes` clears what a killed writer (SIGKILL runs
  no cleanup) left behind, by ownership rather than by age.

It knows nothing of pandas, pyarrow, datasets or luigi.
"""

import contextlib
import functools
import hashlib
import io
import logging
import os
import posixpath
from typing import BinaryIO, Dict, Iterator, List, Optional, Set, Tuple

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem
from fsspec.spec import AbstractBufferedFile

from etl_targets.errors import StorageError
from etl_targets.lake import leftovers
from etl_targets.lake.redaction import redact, split_credentials

log = logging.getLogger(__name__)

#: Options passed to every filesystem: listings must never be served from a
#: process-wide cache, or a file written by another machine would look absent.
FILESYSTEM_OPTIONS = {"use_listings_cache": False}

#: Part size of a streamed upload, and the most a writer holds in memory
#: (S3 allows 5 MiB to 5 GiB and 10,000 parts: 8 MiB parts reach 80 GiB).
WRITE_BLOCK_SIZE = 8 * 2**20

#: Read size of :func:`copy_stream`.
COPY_CHUNK = 2**20


def filesystem(url: str) -> Tuple[fsspec.AbstractFileSystem, str]:
    """Opens the filesystem behind ``url`` and returns it with the bare path.

    Endpoints and credentials come from the standard AWS environment
    (``AWS_ENDPOINT_URL``, profiles, roles), unless the URL carries a key
    pair (``s3://KEY:SECRET@bucket/...``), which goes to s3fs as options and
    never into the path (:mod:`etl_targets.lake.redaction`). fsspec caches
    instances per protocol and options, and drops them in a forked child, so
    thousands of targets share one filesystem.

    Raises:
        StorageError: for an unknown protocol or a malformed URL.
    """
    bare, options = split_credentials(url)
    try:
        fs, path = fsspec.core.url_to_fs(bare, **FILESYSTEM_OPTIONS, **options)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"cannot open {redact(url)}: {_reason(exc)}") from exc
    return fs, path.rstrip("/") or path


def join(root: str, *parts: str) -> str:
    """Joins path parts with ``/`` whatever the operating system."""
    return posixpath.join(root, *parts)


def location(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URL for humans and manifests: protocol included, credentials never."""
    if is_local(fs):
        return path
    return redact(fs.unstrip_protocol(path))


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """True for the local disk, where a same-folder rename is atomic."""
    return isinstance(fs, LocalFileSystem)


def check_inside(fs: fsspec.AbstractFileSystem, path: str, root: str) -> None:
    """Refuses a local file whose real location is outside ``root`` (a symbolic link out of it).

    Reading through a link out of the landing area would copy into the lake
    any file this process may read. A file that is its own root (``--input``,
    named by hand) is where it says it is.

    Raises:
        StorageError: naming the file and where it leads.
    """
    if not is_local(fs) or path == root:
        return
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    with contextlib.suppress(ValueError):  # another drive (Windows): outside
        if os.path.commonpath([real, real_root]) == real_root:
            return
    raise StorageError(f"refusing {path}: a symbolic link to {real}, outside {root}")


def _is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "s3" in protocols


def exists(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Strict existence: False only when the path is not found.

    Raises:
        StorageError: for any failure other than "not found".
    """
    with _storage_errors("check", fs, path):
        try:
            fs.info(path)
        except FileNotFoundError as exc:
            if _absent(exc):
                return False
            raise
    return True


def _absent(exc: FileNotFoundError) -> bool:
    """Whether a FileNotFoundError means "not found".

    fsspec's HTTP filesystem raises it for any failed request (a refused
    connection, a 403, a 500), with the real error as its cause.
    """
    cause = exc.__cause__
    status = getattr(cause, "status", None)  # aiohttp's ClientResponseError
    if isinstance(status, int):
        return status in (404, 410)
    return isinstance(cause, FileNotFoundError) or not isinstance(cause, OSError)


def file_info(fs: fsspec.AbstractFileSystem, path: str) -> dict:
    """One file's fsspec info (as :func:`list_details` gives it), in one request.

    Raises:
        FileNotFoundError: when there is no such file.
        StorageError: for any other failure.
    """
    with _storage_errors("check", fs, path):
        return fs.info(path)


def list_details(fs: fsspec.AbstractFileSystem, prefix: str) -> Dict[str, dict]:
    """Every file below ``prefix``, recursively, with its fsspec info, in one listing.

    The info is what the listing carries anyway (``size``; ``mtime`` or
    ``LastModified``; ``ETag`` on S3): no request per file. On S3 this is one
    paginated ``ListObjectsV2`` (one request per thousand keys). A missing
    prefix is empty; any other failure raises.

    Raises:
        StorageError: when the listing fails for a reason other than absence.
    """
    with _storage_errors("list", fs, prefix):
        try:
            # Object stores (s3fs) list natively and raise by themselves.
            return dict(fs.find(prefix, detail=True)) if _lists_natively(fs) else _walk(fs, prefix)
        except FileNotFoundError as exc:
            if _absent(exc):
                return {}
            raise


def list_files(fs: fsspec.AbstractFileSystem, prefix: str) -> Set[str]:
    """The paths of :func:`list_details`: every file below ``prefix``.

    Raises:
        StorageError: when the listing fails for a reason other than absence.
    """
    return set(list_details(fs, prefix))


def _walk(fs: fsspec.AbstractFileSystem, prefix: str) -> Dict[str, dict]:
    """Every file below ``prefix``, folder by folder; a folder that cannot be read raises.

    fsspec's generic ``find()`` skips an unreadable subfolder whatever
    ``on_error`` says (its ``walk`` does not pass the option down): a
    permission problem would read as "absent", then rebuild and overwrite.
    """
    found: Dict[str, dict] = {}
    folders = [prefix]
    while folders:
        folder = folders.pop()
        with _storage_errors("list", fs, folder):
            try:
                entries = fs.ls(folder, detail=True)
            except FileNotFoundError as exc:
                if folder == prefix or not _absent(exc):
                    raise
                continue  # removed while the walk went on: nothing there
        for info in entries:
            if info["type"] != "directory":
                found[info["name"]] = info
            elif info["name"].rstrip("/") != folder.rstrip("/"):
                folders.append(info["name"])
    return dict(sorted(found.items()))


def _lists_natively(fs: fsspec.AbstractFileSystem) -> bool:
    # private: fsspec has no public flag for "find() is one native listing" (the
    # generic find() is replaced by _walk, which never skips a folder it cannot read).
    return isinstance(fs, AsyncFileSystem) and type(fs)._find is not AsyncFileSystem._find


def read_bytes(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """The whole file, in one GET on object stores.

    Raises:
        FileNotFoundError: when there is no such file.
        StorageError: for any other failure.
    """
    try:
        # s3fs: a ranged read skips the HEAD that a plain cat_file() makes to
        # split big reads across connections (measured: 1 request, not 2).
        return fs.cat_file(path, start=0)
    except FileNotFoundError as exc:
        if not _absent(exc):
            raise StorageError(f"cannot read {location(fs, path)}: {_reason(exc.__cause__)}") from exc
        raise
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):  # if this fails too, report the first error
            if fs.size(path) == 0:
                return b""  # S3 answers any range of an empty object with 416
        raise StorageError(f"cannot read {location(fs, path)}: {_reason(exc)}") from exc


def open_input(fs: fsspec.AbstractFileSystem, path: str) -> BinaryIO:
    """A binary, seekable reader for streaming large files."""
    with _storage_errors("open", fs, path):
        return fs.open(path, "rb")


def copy_stream(reader: BinaryIO, writer: BinaryIO, chunk: int = COPY_CHUNK) -> Tuple[str, int]:
    """Copies ``reader`` into ``writer`` in ``chunk``-sized reads; returns (sha256 hex, bytes).

    A file of any size lands holding one chunk, checksummed with no second read.
    """
    digest, total = hashlib.sha256(), 0
    while True:
        block = reader.read(chunk)
        if not block:
            return digest.hexdigest(), total
        digest.update(block)
        writer.write(block)
        total += len(block)


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
    if is_local(fs):
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
    failures = functools.partial(_storage_errors, "write", fs, path, passes=())
    with failures():  # a folder that is not writable: one error naming the file
        fs.makedirs(folder, exist_ok=True)
    with _housekeeping(fs, folder):
        remove_abandoned_writes(fs, folder)
    temporary = posixpath.join(folder, leftovers.temporary_name(name))
    try:
        with failures():
            handle = _LocalTemporary(temporary, location(fs, path))
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
            raise StorageError(f"cannot write {self._destination}: {_reason(exc)}") from exc


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
        with _storage_errors("write", self._fs, self._path, passes=()):
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
        if _is_s3(self._fs):
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
        with _storage_errors("write", self._fs, self._path, passes=()):
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
                log.warning("cannot abort the upload of %s: %s", location(self._fs, self._path),
                            _reason(exc))
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
        log.warning("cannot clear abandoned writes at %s: %s", location(fs, path), _reason(exc))


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
    with (_storage_errors("clear abandoned writes in", fs, folder),
          contextlib.suppress(FileNotFoundError)):  # no folder or no bucket: nothing left
        if is_local(fs):
            removed = leftovers.remove_local_temporaries(folder)
        elif _is_s3(fs):
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


def remove(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Removes a file or folder tree; absent is fine."""
    with _storage_errors("remove", fs, path), contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


@contextlib.contextmanager
def _storage_errors(action: str, fs: fsspec.AbstractFileSystem, path: str,
                    passes: tuple = (FileNotFoundError,)) -> Iterator[None]:
    """Wraps every failure but ``passes`` in one StorageError naming the path (never swallowed)."""
    try:
        yield
    except FileNotFoundError as exc:
        if FileNotFoundError in passes and _absent(exc):
            raise
        raise StorageError(f"cannot {action} {location(fs, path)}: "
                           f"{_reason(exc.__cause__ or exc)}") from exc
    except (StorageError, *passes):
        raise
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot {action} {location(fs, path)}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """One line about a foreign error, without anything that looks secret."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:300]
