"""Every byte of I/O, over fsspec, the backend chosen only by the URL.

A local folder, ``file://`` and ``s3://`` go through the same functions. The
module is deliberately strict where fsspec is lenient:

* :func:`exists` answers False only for "not found"; any other failure
  (permission, expired credential, network) raises :class:`StorageError`,
  because in a make-like graph "absent" means "rebuild and overwrite".
* :func:`atomic_writer` publishes only on success. fsspec file objects commit
  on ``close()`` even when the ``with`` block raised, which would leave a
  partial file that later counts as complete; here a local write goes to a
  dot-named temporary file in the same folder and is renamed, and an object
  store write is one upload that only appears when complete.

It knows nothing of pandas, pyarrow, datasets or luigi.
"""

import contextlib
import functools
import inspect
import os
import posixpath
import re
import tempfile
import uuid
from typing import BinaryIO, Iterator, Set, Tuple

import fsspec
from fsspec.asyn import AsyncFileSystem
from fsspec.implementations.local import LocalFileSystem

from etl_targets.errors import StorageError

#: Options passed to every filesystem: listings must never be served from a
#: process-wide cache, or a file written by another machine would look absent.
FILESYSTEM_OPTIONS = {"use_listings_cache": False}

#: Environment variables that change what an ``s3://`` URL reaches.
AWS_SETTINGS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE", "AWS_MAX_ATTEMPTS")


def filesystem(url: str) -> Tuple[fsspec.AbstractFileSystem, str]:
    """Opens the filesystem behind ``url`` and returns it with the bare path.

    Credentials and endpoints are never passed here: s3fs takes them from
    the standard AWS environment (``AWS_ENDPOINT_URL``, profiles, roles).
    A backfill makes thousands of targets, so the filesystem of a plain
    ``protocol://`` URL is looked up once per protocol, process and AWS
    environment, and only the path is derived per URL.
    """
    if "::" in url or "@" in url.split("/", 3)[2 if "://" in url else 0]:
        return _resolve(url)  # chained or with options in the URL: let fsspec parse it
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    aws = tuple(os.environ.get(name) for name in AWS_SETTINGS)
    fs = _filesystem_for(protocol, os.getpid(), aws)
    if fs is None:
        return _resolve(url)
    path = fs._strip_protocol(url)
    return fs, path.rstrip("/") or path


@functools.lru_cache(maxsize=64)
def _filesystem_for(protocol: str, pid: int, aws_environment: tuple):
    del pid, aws_environment  # cache key only: a forked child or new credentials get their own
    try:
        return fsspec.filesystem(protocol, **FILESYSTEM_OPTIONS)
    except (ImportError, ValueError):
        return None  # unknown protocol: _resolve reports it


def _resolve(url: str) -> Tuple[fsspec.AbstractFileSystem, str]:
    try:
        fs, path = fsspec.core.url_to_fs(url, **FILESYSTEM_OPTIONS)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"cannot open {redact(url)}: {exc}") from exc
    return fs, path.rstrip("/") or path


def join(root: str, *parts: str) -> str:
    """Joins path parts with ``/`` whatever the operating system."""
    return posixpath.join(root, *parts)


def location(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """A URL for humans and manifests: protocol included, credentials never."""
    if is_local(fs):
        return path
    return redact(fs.unstrip_protocol(path))


#: ``?X-Amz-Signature=...``, ``&token=...``: query values that are secrets
_SECRET_QUERY = re.compile(
    r"(?i)([?&][^=&\s]*(?:signature|credential|token|secret|password|passwd|key|sig)[^=&\s]*=)"
    r"[^&\s]+")


def redact(url: str) -> str:
    """Removes ``user:secret@`` and secret query values (presigned URLs) from a URL or message."""
    if "@" not in url and "?" not in url and "&" not in url:
        return url  # the usual case, asked thousands of times while luigi schedules
    return _SECRET_QUERY.sub(r"\1REDACTED", re.sub(r"(?<=://)[^/@\s]+@", "", url))


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """True for the local disk, where a same-folder rename is atomic."""
    return isinstance(fs, LocalFileSystem)


def exists(fs: fsspec.AbstractFileSystem, path: str) -> bool:
    """Strict existence: False only when the path is not found.

    Raises:
        StorageError: for any failure other than "not found".
    """
    try:
        fs.info(path)
    except FileNotFoundError:
        return False
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot check {location(fs, path)}: {_reason(exc)}") from exc
    return True


def list_files(fs: fsspec.AbstractFileSystem, prefix: str) -> Set[str]:
    """Every file below ``prefix``, recursively, with one listing.

    On S3 this is one paginated ``ListObjectsV2`` (one request per thousand
    keys) instead of one ``HEAD`` per file. A missing prefix is an empty set;
    any other failure raises.

    Raises:
        StorageError: when the listing fails for a reason other than absence.
    """
    # fsspec's generic find() walks folders and skips unreadable ones unless
    # told otherwise; object stores (s3fs) list natively and raise by themselves.
    options = {} if _lists_natively(fs) else {"on_error": "raise"}
    try:
        return set(fs.find(prefix, **options))
    except FileNotFoundError:
        return set()
    except Exception as exc:  # noqa: BLE001 - wrapped, never swallowed
        raise StorageError(f"cannot list {location(fs, prefix)}: {_reason(exc)}") from exc


def _single_request_options(fs: fsspec.AbstractFileSystem) -> dict:
    cat = getattr(fs, "_cat_file", None)
    if cat is not None and "max_concurrency" in inspect.signature(cat).parameters:
        return {"max_concurrency": 1}
    return {}


def _lists_natively(fs: fsspec.AbstractFileSystem) -> bool:
    return isinstance(fs, AsyncFileSystem) and type(fs)._find is not AsyncFileSystem._find


def read_bytes(fs: fsspec.AbstractFileSystem, path: str) -> bytes:
    """The whole file, in one GET on object stores.

    s3fs would first ask for the size (a HEAD) to split large reads across
    connections; day files are small enough that one GET is cheaper.
    """
    try:
        return fs.cat_file(path, **_single_request_options(fs))
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"cannot read {location(fs, path)}: {_reason(exc)}") from exc


def open_input(fs: fsspec.AbstractFileSystem, path: str) -> BinaryIO:
    """A binary, seekable reader for streaming large files."""
    try:
        return fs.open(path, "rb")
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"cannot open {location(fs, path)}: {_reason(exc)}") from exc


@contextlib.contextmanager
def atomic_writer(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[BinaryIO]:
    """Yields a binary file whose content is published at ``path`` only on success.

    Local: a temporary ``.<name>.<random>.tmp`` beside the target, flushed,
    fsynced and renamed over it. Elsewhere: a local temporary file uploaded
    in one ``put_file`` (a single object PUT, or a multipart upload that only
    becomes visible when completed). If the block raises, nothing is
    published and the temporary file is removed.
    """
    if is_local(fs):
        with _local_atomic(fs, path) as handle:
            yield handle
        return
    with tempfile.NamedTemporaryFile(prefix=".etl-", suffix=".tmp") as handle:
        yield handle
        handle.flush()
        try:
            fs.put_file(handle.name, path)
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot write {location(fs, path)}: {_reason(exc)}") from exc


@contextlib.contextmanager
def _local_atomic(fs: LocalFileSystem, path: str) -> Iterator[BinaryIO]:
    folder, name = posixpath.split(path)
    fs.makedirs(folder, exist_ok=True)
    temporary = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with fs.open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        fs.mv(temporary, path)  # a rename within one folder: atomic on POSIX
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(temporary)
        raise


def write_bytes(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Publishes ``data`` at ``path`` atomically."""
    with atomic_writer(fs, path) as handle:
        handle.write(data)


def remove(fs: fsspec.AbstractFileSystem, path: str) -> None:
    """Removes a file or folder tree; absent is fine."""
    try:
        fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    except Exception as exc:  # noqa: BLE001
        raise StorageError(f"cannot remove {location(fs, path)}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """One line about a foreign error, without anything that looks secret."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:300]
