"""Shared fixtures: real servers on loopback ports, isolated lakes, luigi builds.

Real parts, not in-process mocks: S3 is a moto server subprocess that s3fs
reaches over HTTP through ``AWS_ENDPOINT_URL``, and the central scheduler is
a real ``luigid`` subprocess. Both start on free ``127.0.0.1`` ports and are
always stopped. No test may touch the repository's ``data/`` folder: every
test runs with ``ETL_LAKE_ROOT`` / ``ETL_LANDING_ROOT`` / ``ETL_LOG_DIR``
pointing into its own temporary directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import fsspec
import luigi
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_LANDING = REPO / "sample_data" / "landing"
VENV_BIN = Path(sys.executable).parent

#: What the moto server accepts: any key pair, since it runs without IAM.
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: Variables that could point s3fs somewhere else than the test server.
AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE")


# --------------------------------------------------------------------------
# Subprocess servers
# --------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_answers(url: str, process: subprocess.Popen, log: Path,
                        timeout: float = 30.0) -> None:
    """Polls ``url`` until it answers with any HTTP status, or fails loudly."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n"
                               f"{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer from {url} after {timeout}s:\n{log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def _server(argv: List[str], probe_path: str, port: int, log: Path,
            env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> Iterator[str]:
    with open(log, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_answers(base + probe_path, process, log)
        yield base
    finally:
        _stop(process)


# --------------------------------------------------------------------------
# S3: moto server and its request log
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

    def requests(self) -> List[Tuple[str, str]]:
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
    (or since the fixture was created).
    """

    def __init__(self, server: MotoServer):
        self._server = server
        self._start = 0
        self.mark()

    def mark(self) -> None:
        self._start = len(self._server.requests())

    def __call__(self) -> List[Tuple[str, str]]:
        # werkzeug logs a request when it starts answering, before the client
        # has the response, so by now every request made is in the log.
        return self._server.requests()[self._start:]

    def writes(self) -> List[Tuple[str, str]]:
        """Requests since the mark that could change the bucket."""
        return [(m, p) for m, p in self() if m in ("PUT", "POST", "DELETE", "PATCH")]


def _start_moto(log: Path, env: Optional[Dict[str, str]] = None):
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _server(argv, "/moto-api/", port, log, env=env)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    """A moto S3 server over HTTP on a free loopback port, for the whole session."""
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with _start_moto(log) as endpoint:
        yield MotoServer(endpoint, log)


@pytest.fixture(scope="session")
def moto_server_with_auth(tmp_path_factory) -> Iterator[MotoServer]:
    """A second moto server that checks credentials: unknown keys get 403.

    ``INITIAL_NO_AUTH_ACTION_COUNT=0`` makes moto enforce IAM from the first
    request, so any key pair the test invents is an invalid credential, the
    way an expired or revoked key is on AWS.
    """
    log = tmp_path_factory.mktemp("moto-auth") / "server.log"
    with _start_moto(log, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        yield MotoServer(endpoint, log)


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


def _forget_filesystems() -> None:
    """Drops filesystems made under a deliberately broken environment, so none outlives it."""
    global _cached_for
    clear_filesystem_caches()
    _cached_for = None


_clients: Dict[str, object] = {}


def s3_client_fs(endpoint: str):
    """An s3fs filesystem for test set-up and inspection, independent of the environment."""
    import s3fs

    if endpoint not in _clients:
        _clients[endpoint] = s3fs.S3FileSystem(
            skip_instance_cache=True, use_listings_cache=False, endpoint_url=endpoint,
            key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    return _clients[endpoint]


def unique_bucket(prefix: str = "lake") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_env(moto_server, monkeypatch) -> str:
    """Points the AWS environment at the moto server; returns a fresh, empty bucket."""
    point_aws_at(monkeypatch, moto_server.endpoint)
    bucket = unique_bucket()
    s3_client_fs(moto_server.endpoint).mkdir(bucket)
    return bucket


@pytest.fixture(scope="module")
def s3_module_env(moto_server) -> Iterator[str]:
    """:func:`s3_env` for fixtures a whole module shares (e.g. one built S3 lake)."""
    with pytest.MonkeyPatch.context() as patch:
        point_aws_at(patch, moto_server.endpoint)
        bucket = unique_bucket()
        s3_client_fs(moto_server.endpoint).mkdir(bucket)
        yield bucket


@pytest.fixture(scope="session")
def s3fs_client(moto_server):
    """s3fs on the moto server with test credentials, for set-up and inspection."""
    return s3_client_fs(moto_server.endpoint)


#: Credentials the auth-checking server has never issued; distinctive so a
#: test can check they are never echoed in an error message.
INVALID_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAEXPIRED0KEY0TEST",
                       "AWS_SECRET_ACCESS_KEY": "expired-secret-never-print-me"}


@pytest.fixture
def s3_invalid_credentials(moto_server_with_auth, monkeypatch) -> Iterator[str]:
    """The AWS environment holds a key S3 rejects (403); returns a bucket name."""
    point_aws_at(monkeypatch, moto_server_with_auth.endpoint, **INVALID_CREDENTIALS)
    yield unique_bucket()
    _forget_filesystems()


@pytest.fixture
def s3_unreachable(monkeypatch) -> Iterator[str]:
    """The AWS endpoint is a loopback port nobody listens on; returns a bucket name.

    ``AWS_MAX_ATTEMPTS=1`` keeps botocore from retrying for seconds.
    """
    point_aws_at(monkeypatch, f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1")
    yield unique_bucket()
    _forget_filesystems()


@pytest.fixture
def s3_requests(moto_server) -> S3RequestLog:
    """``s3_requests()`` lists the ``(method, path)`` the S3 server got since ``.mark()``."""
    return S3RequestLog(moto_server)


# --------------------------------------------------------------------------
# luigid
# --------------------------------------------------------------------------

class Luigid(NamedTuple):
    """A running central scheduler: ``host, port = luigid``."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def api(self, method: str, **arguments) -> dict:
        """Calls the scheduler's JSON API: ``/api/<method>?data=<json>``."""
        query = urllib.parse.urlencode({"data": json.dumps(arguments)})
        with urllib.request.urlopen(f"{self.url}/api/{method}?{query}", timeout=10) as answer:
            return json.loads(answer.read())["response"]


@pytest.fixture
def luigid(tmp_path_factory) -> Iterator[Luigid]:
    """A real ``luigid`` subprocess on a free port, with its state in a temp folder."""
    folder = tmp_path_factory.mktemp("luigid")
    port = free_port()
    argv = [str(VENV_BIN / "luigid"), "--address", "127.0.0.1", "--port", str(port),
            "--state-path", str(folder / "state.pickle"), "--logdir", str(folder)]
    env = {"LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg")}
    with _server(argv, "/api/task_list", port, folder / "luigid.log", env=env, cwd=folder):
        yield Luigid("127.0.0.1", port)


# --------------------------------------------------------------------------
# Lakes and landing areas
# --------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _never_the_repository_lake(tmp_path, monkeypatch) -> None:
    """Configuration-driven roots point into the test's temp folder, never data/."""
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("ETL_LANDING_ROOT", str(tmp_path / "landing"))
    monkeypatch.setenv("ETL_LOG_DIR", str(tmp_path / "logs"))


@pytest.fixture(scope="session")
def sample_landing() -> Path:
    """The repository's sample landing root (``so/zheSO-2026-1-1.csv`` ...); read only."""
    return SAMPLE_LANDING


@pytest.fixture
def tmp_lake(tmp_path) -> Path:
    """A fresh, not yet existing local lake root (the one ETL_LAKE_ROOT names)."""
    return tmp_path / "lake"


@pytest.fixture
def tmp_landing(tmp_path) -> Path:
    """An empty local landing root (the one ETL_LANDING_ROOT names); see ``landing_copier``."""
    (tmp_path / "landing" / "so").mkdir(parents=True)
    return tmp_path / "landing"


def landing_name(day: dt.date) -> str:
    """The ERP's file name, written out from the contract (not imported)."""
    return f"zheSO-{day.year}-{day.month}-{day.day}.csv"


def copy_landing(landing: Path, *days: dt.date) -> None:
    """Copies the sample SO files of ``days`` into ``landing/so``."""
    (landing / "so").mkdir(parents=True, exist_ok=True)
    for day in days:
        name = landing_name(day)
        shutil.copyfile(SAMPLE_LANDING / "so" / name, landing / "so" / name)


# --------------------------------------------------------------------------
# luigi builds, observed through luigi's public events
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Build:
    """One ``luigi.build`` and what luigi reported about each task.

    Attributes:
        result: the ``LuigiRunResult`` (``detailed_summary=True``).
        ran: tasks whose ``run()`` succeeded.
        complete: tasks found complete while scheduling (not run).
        failed: ``(task, exception)`` for tasks whose ``run()`` raised.
        missing: external tasks whose output was missing.
    """

    result: object = None
    ran: list = dataclasses.field(default_factory=list)
    complete: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)

    @staticmethod
    def names(tasks) -> List[str]:
        """``["GoldSO(2026-01-27)", ...]``, sorted."""
        return sorted(f"{t.task_family}({t.date.isoformat()})" for t in tasks)

    def ran_names(self, family: Optional[str] = None) -> List[str]:
        return self.names(t for t in self.ran if family in (None, t.task_family))

    def complete_names(self) -> List[str]:
        return self.names(self.complete)

    @property
    def status(self):
        return self.result.status


_RECORDING: List[Build] = []


@luigi.Task.event_handler(luigi.Event.SUCCESS)
def _record_success(task):
    for build in _RECORDING:
        build.ran.append(task)


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def _record_complete(task):
    for build in _RECORDING:
        build.complete.append(task)


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task, exception):
    for build in _RECORDING:
        build.failed.append((task, exception))


@luigi.Task.event_handler(luigi.Event.DEPENDENCY_MISSING)
def _record_missing(task):
    for build in _RECORDING:
        build.missing.append(task)


def build(tasks, **options) -> Build:
    """Runs ``luigi.build`` in this process (local scheduler unless told) and records it."""
    options.setdefault("local_scheduler", "scheduler_host" not in options)
    record = Build()
    _RECORDING.append(record)
    try:
        record.result = luigi.build(list(tasks), detailed_summary=True, **options)
    finally:
        _RECORDING.remove(record)
    return record


@pytest.fixture(scope="session")
def luigi_build():
    """``luigi_build([tasks...], **luigi.build options) -> Build``."""
    return build


def snapshot(root: Path) -> Dict[str, Tuple[int, int, int]]:
    """Every file below ``root`` (hidden ones too): relative path -> (inode, mtime_ns, size)."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(root).as_posix()] = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return found


@pytest.fixture(scope="session")
def lake_snapshot():
    """``lake_snapshot(root) -> {relative path: (inode, mtime_ns, size)}``, hidden files too."""
    return snapshot


@pytest.fixture(scope="session")
def landing_copier():
    """``landing_copier(landing_root, *days)`` copies those sample SO files there."""
    return copy_landing
