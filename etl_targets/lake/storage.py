"""Every byte of I/O, over fsspec, the backend chosen only by the URL.

A local folder, ``file://``, ``memory://`` and ``s3://`` go through the same
functions. The module is deliberately strict where fsspec is lenient:
:func:`exists` answers False only for "not found"; any other failure
(permission, expired credential, network) raises :class:`StorageError`,
because in a make-like graph "absent" means "rebuild and overwrite".
Listings are one native request per thousand keys where the backend has
them. Writing is :mod:`etl_targets.lake.writer`'s, the one atomic writer.

It knows nothing of pandas, pyarrow, datasets or luigi.
"""

import contextlib
import hashlib
import os
import posixpath
from typing import BinaryIO, Dict, Iterator, Optional, Set, Tuple

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.local import LocalFileSystem

from etl_targets.errors import MissingBucket, StorageError
from etl_targets.lake.redaction import S3_SCHEMES, redact, split_credentials

#: Options passed to every filesystem: listings must never be served from a
#: process-wide cache, or a file written by another machine would look absent.
FILESYSTEM_OPTIONS = {"use_listings_cache": False}
#: How patient S3 requests are. botocore's defaults (60 s to connect, 60 s per
#: read) times its attempts times s3fs's own five retries let an endpoint that
#: accepts connections and never answers hold a run for a quarter of an hour;
#: these give up within a few minutes, still retrying throttling and blips.
S3_OPTIONS = {"config_kwargs": {"connect_timeout": 10, "read_timeout": 30,
                                "retries": {"max_attempts": 4, "mode": "standard"}}}
#: s3fs's retries of a request botocore already gave up on (its default is 5)
S3FS_RETRIES = 2

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
    if bare.split("://", 1)[0].lower() in S3_SCHEMES:
        options = {**S3_OPTIONS, **options}
    try:
        fs, path = fsspec.core.url_to_fs(bare, **FILESYSTEM_OPTIONS, **options)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"cannot open {redact(url)}: {reason(exc)}") from exc
    if is_s3(fs):
        fs.retries = S3FS_RETRIES
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


def is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    return "s3" in protocols


def exists(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Strict existence: False only when the path is not found.

    Raises:
        StorageError: for any failure other than "not found".
    """
    with failures("check", fs, path):
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
    if _missing_bucket(cause):
        return False  # not an empty prefix: a root that names no bucket
    status = getattr(cause, "status", None)  # aiohttp's ClientResponseError
    if isinstance(status, int):
        return status in (404, 410)
    return isinstance(cause, FileNotFoundError) or not isinstance(cause, OSError)


def _missing_bucket(exc: Optional[BaseException]) -> bool:
    """botocore's NoSuchBucket, which s3fs turns into a FileNotFoundError like a missing key."""
    error = getattr(exc, "response", None)
    return isinstance(error, dict) and error.get("Error", {}).get("Code") == "NoSuchBucket"


def file_info(fs: fsspec.AbstractFileSystem, path: str) -> dict:
    """One file's fsspec info (as :func:`list_details` gives it), in one request.

    Raises:
        FileNotFoundError: when there is no such file.
        StorageError: for any other failure.
    """
    with failures("check", fs, path):
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
    with failures("list", fs, prefix):
        try:
            # Object stores (s3fs) list natively and raise by themselves.
            return _find(fs, prefix) if _lists_natively(fs) else _walk(fs, prefix)
        except FileNotFoundError as exc:
            if _absent(exc):
                return {}
            raise


def _find(fs: fsspec.AbstractFileSystem, prefix: str) -> Dict[str, dict]:
    """One native recursive listing; on S3 an empty prefix costs no extra probes.

    s3fs's ``find(path)`` answers an empty listing with a HEAD of ``path`` and
    a second listing (is it a file?): two requests per stage not yet built.
    Asked as the key prefix ``name/`` below the parent folder, the same
    listing is the only request.
    """
    parent, _, name = prefix.rstrip("/").rpartition("/")
    if is_s3(fs) and parent:
        return dict(fs.find(parent, prefix=name + "/", detail=True))
    return dict(fs.find(prefix, detail=True))


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
        with failures("list", fs, folder):
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
            with failures("read", fs, path):
                raise
        raise
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):  # if this fails too, report the first error
            if fs.size(path) == 0:
                return b""  # S3 answers any range of an empty object with 416
        raise StorageError(f"cannot read {location(fs, path)}: {reason(exc)}") from exc


def open_input(fs: fsspec.AbstractFileSystem, path: str) -> BinaryIO:
    """A binary, seekable reader for streaming large files."""
    with failures("open", fs, path):
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


def remove(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Removes a file or folder tree; absent is fine."""
    with failures("remove", fs, path), contextlib.suppress(FileNotFoundError):
        fs.rm(path, recursive=True)


@contextlib.contextmanager
def failures(action: str, fs: fsspec.AbstractFileSystem, path: str,
                    passes: tuple = (FileNotFoundError,)) -> Iterator[None]:
    """Wraps every failure but ``passes`` in one StorageError naming the path (never swallowed)."""
    try:
        yield
    except FileNotFoundError as exc:
        if FileNotFoundError in passes and _absent(exc):
            raise
        if _missing_bucket(exc.__cause__):  # a typo in a root, another account or endpoint
            raise MissingBucket(f"cannot {action} {location(fs, path)}: the bucket "
                                f"{path.split('/', 1)[0]} does not exist") from exc
        raise StorageError(f"cannot {action} {location(fs, path)}: "
                           f"{reason(exc.__cause__ or exc)}") from exc
    except (StorageError, *passes):
        raise
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot {action} {location(fs, path)}: {reason(exc)}") from exc


def reason(exc: BaseException) -> str:
    """One line about a foreign error, without anything that looks secret."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:300]
