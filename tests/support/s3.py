"""S3 as the tests see it: a moto server over HTTP, its request log, the AWS environment.

s3fs reaches the server only through the standard ``AWS_ENDPOINT_URL``, the
way it reaches AWS. Requests are read from the server's own log, so "no
write" means the server received no PUT, POST, DELETE or PATCH at all.
"""

from __future__ import annotations

import contextlib
import re
import sys
import urllib.parse
import uuid
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import fsspec

from support.servers import free_port, running

#: What the moto server accepts: any key pair, since it runs without IAM.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Credentials the auth-checking server has never issued; distinctive so a
#: test can check they are never echoed in an error message.
INVALID_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAEXPIRED0KEY0TEST",
                       "AWS_SECRET_ACCESS_KEY": "expired-secret-never-print-me"}
#: Variables that could point s3fs somewhere else than the test server.
AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE")

Request = Tuple[str, str]

# --------------------------------------------------------------------------
# the server and its request log
# --------------------------------------------------------------------------

#: werkzeug logs one line per request: ... "PUT /bucket/key HTTP/1.1" 200 -
#: (with ANSI colours around the request line for non-2xx statuses).
_COLOUR = r"(?:\x1b\[[0-9;]*m)*"
_REQUEST_LINE = re.compile(rf'"{_COLOUR}([A-Z]+) (\S+) HTTP/[0-9.]+{_COLOUR}" (\d{{3}})')


class MotoServer(str):
    """A running ``moto.server`` subprocess: the string is its endpoint URL.

    Attributes:
        log: the server's stderr, where werkzeug writes one line per request.
    """

    log: Path

    def __new__(cls, endpoint: str, log: Path) -> "MotoServer":
        server = super().__new__(cls, endpoint)
        server.log = log
        return server

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, for ``AWS_ENDPOINT_URL``."""
        return str(self)

    def requests(self) -> List[Request]:
        """Every request the server received so far, as ``(method, path)``.

        ``/moto-api/`` calls (readiness probes) are left out.
        """
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = _REQUEST_LINE.search(line)
            if match and not match.group(2).startswith("/moto-api/"):
                found.append((match.group(1), match.group(2)))
        return found


class S3RequestLog:
    """The S3 requests the moto server received since a mark.

    Call it for the list of ``(method, path)`` since the last :meth:`mark`
    (or since it was created).
    """

    def __init__(self, server: MotoServer):
        self._server = server
        self._start = 0
        self.mark()

    def mark(self) -> None:
        self._start = len(self._server.requests())

    def __call__(self) -> List[Request]:
        # werkzeug logs a request when it starts answering, before the client
        # has the response, so by now every request made is in the log.
        return self._server.requests()[self._start:]

    def writes(self) -> List[Request]:
        """Requests since the mark that could change the bucket."""
        return [(m, p) for m, p in self() if m in ("PUT", "POST", "DELETE", "PATCH")]


@contextlib.contextmanager
def start_moto(log: Path, env: Optional[Dict[str, str]] = None) -> Iterator[MotoServer]:
    """A ``moto.server`` subprocess on a free loopback port, stopped on leaving the block.

    Args:
        log: where the server writes, one line per request.
        env: extra variables for the server (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running(argv, "/moto-api/", port, log, env=env) as endpoint:
        yield MotoServer(endpoint, log)


def listings(requests: Iterable[Request]) -> List[str]:
    """The ListObjectsV2 requests (``GET /<bucket>?list-type=2&prefix=...``) among ``requests``."""
    return [path for method, path in requests if method == "GET" and "list-type=2" in path]


def listed_prefixes(requests: Iterable[Request]) -> List[str]:
    """The ``prefix=`` of every ListObjectsV2 request, decoded."""
    found = []
    for path in listings(requests):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        found.append(query.get("prefix", [""])[0])
    return found


def heads(requests: Iterable[Request]) -> List[str]:
    """The paths of the HEAD requests (existence checks) among ``requests``."""
    return [path for method, path in requests if method == "HEAD"]


# --------------------------------------------------------------------------
# the AWS environment the code under test reads
# --------------------------------------------------------------------------

def clear_filesystem_caches() -> None:
    """Forgets cached fsspec/s3fs instances, which hold the endpoint they were made with."""
    fsspec.AbstractFileSystem.clear_instance_cache()
    with contextlib.suppress(ImportError):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()


def aws_environment(endpoint: str, **overrides: str) -> Dict[str, str]:
    """The standard AWS variables that point s3fs at ``endpoint``."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
            **TEST_CREDENTIALS, **overrides}


_cached_for: Optional[Dict[str, str]] = None


def point_aws_at(monkeypatch, endpoint: str, **overrides: str) -> None:
    """Sets the AWS environment for ``endpoint``.

    Cached filesystems are dropped whenever the environment differs from the
    one they were made under (a fresh s3fs session costs ~0.5 s, so they are
    kept while it stays the same).
    """
    global _cached_for
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    environment = aws_environment(endpoint, **overrides)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if environment != _cached_for:
        clear_filesystem_caches()
        _cached_for = environment


def forget_filesystems() -> None:
    """Drops every cached filesystem, so none made under the current environment outlives it."""
    global _cached_for
    clear_filesystem_caches()
    _cached_for = None


@contextlib.contextmanager
def broken_aws(monkeypatch, endpoint: str, **overrides: str) -> Iterator[None]:
    """:func:`point_aws_at` a deliberately broken setup (bad key, dead port) for the block.

    Filesystems made under it are forgotten on leaving, so none outlives it.
    """
    point_aws_at(monkeypatch, endpoint, **overrides)
    try:
        yield
    finally:
        forget_filesystems()


# --------------------------------------------------------------------------
# buckets and an inspection client
# --------------------------------------------------------------------------

_clients: Dict[str, object] = {}


def s3_client_fs(endpoint: str):
    """An s3fs filesystem for test set-up and inspection, independent of the environment.

    No instance or listing cache: every call asks the server.
    """
    import s3fs

    if endpoint not in _clients:
        _clients[endpoint] = s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=False, endpoint_url=endpoint,
            key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    return _clients[endpoint]


def unique_bucket(prefix: str = "lake") -> str:
    """A bucket name no other test uses (the server lives for the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def fresh_bucket(endpoint: str) -> str:
    """Creates an empty bucket on the server at ``endpoint`` and returns its name."""
    bucket = unique_bucket()
    s3_client_fs(endpoint).mkdir(bucket)
    return bucket
