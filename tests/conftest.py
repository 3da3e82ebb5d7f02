"""Shared fixtures: real servers on loopback ports, isolated lakes, luigi builds.

Real parts, not in-process mocks: S3 is a moto server subprocess that s3fs
reaches over HTTP through ``AWS_ENDPOINT_URL``, and the central scheduler is
a real ``luigid`` subprocess. Both start on free ``127.0.0.1`` ports and are
always stopped. No test may touch the repository's ``data/`` folder: every
test runs with ``ETL_LAKE_ROOT`` / ``ETL_LANDING_ROOT`` / ``ETL_LOG_DIR``
pointing into its own temporary directory.

This file only declares fixtures; what they do lives in ``tests/support/``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

# pytest runs with --import-mode=importlib, which does not put tests/ on
# sys.path; the shared helpers (support/) and the reference live there.
_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
pytest.register_assert_rewrite("support")

from support import builds, landing, lakes  # noqa: E402
from support.env import etl_roots  # noqa: E402
from support.luigid import Luigid, start_luigid  # noqa: E402
from support.paths import SAMPLE_LANDING  # noqa: E402
from support.s3 import (  # noqa: E402
    INVALID_CREDENTIALS,
    MotoServer,
    S3RequestLog,
    broken_aws,
    fresh_bucket,
    point_aws_at,
    s3_client_fs,
    start_moto,
    unique_bucket,
)
from support.rates_server import SAMPLE_RATES, TEST_TOKEN, RatesServer, rates_server  # noqa: E402
from support.servers import free_port  # noqa: E402

# --------------------------------------------------------------------------
# S3: moto servers, the AWS environment, the request log
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    """A moto S3 server over HTTP on a free loopback port, for the whole session."""
    with start_moto(tmp_path_factory.mktemp("moto") / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def moto_server_with_auth(tmp_path_factory) -> Iterator[MotoServer]:
    """A second moto server that checks credentials: unknown keys get 403.

    ``INITIAL_NO_AUTH_ACTION_COUNT=0`` makes moto enforce IAM from the first
    request, so any key pair the test invents is an invalid credential, the
    way an expired or revoked key is on AWS.
    """
    log = tmp_path_factory.mktemp("moto-auth") / "server.log"
    with start_moto(log, env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as server:
        yield server


@pytest.fixture
def s3_env(moto_server, monkeypatch) -> str:
    """Points the AWS environment at the moto server; returns a fresh, empty bucket."""
    point_aws_at(monkeypatch, moto_server.endpoint)
    return fresh_bucket(moto_server.endpoint)


@pytest.fixture(scope="module")
def s3_module_env(moto_server) -> Iterator[str]:
    """:func:`s3_env` for fixtures a whole module shares (e.g. one built S3 lake)."""
    with pytest.MonkeyPatch.context() as patch:
        point_aws_at(patch, moto_server.endpoint)
        yield fresh_bucket(moto_server.endpoint)


@pytest.fixture(scope="session")
def s3fs_client(moto_server):
    """s3fs on the moto server with test credentials, for set-up and inspection."""
    return s3_client_fs(moto_server.endpoint)


@pytest.fixture
def s3_invalid_credentials(moto_server_with_auth, monkeypatch) -> Iterator[str]:
    """The AWS environment holds a key S3 rejects (403); returns a bucket name."""
    with broken_aws(monkeypatch, moto_server_with_auth.endpoint, **INVALID_CREDENTIALS):
        yield unique_bucket()


@pytest.fixture
def s3_unreachable(monkeypatch) -> Iterator[str]:
    """The AWS endpoint is a loopback port nobody listens on; returns a bucket name.

    ``AWS_MAX_ATTEMPTS=1`` keeps botocore from retrying for seconds.
    """
    with broken_aws(monkeypatch, f"http://127.0.0.1:{free_port()}", AWS_MAX_ATTEMPTS="1"):
        yield unique_bucket()


@pytest.fixture
def s3_requests(moto_server) -> S3RequestLog:
    """``s3_requests()`` lists the ``(method, path)`` the S3 server got since ``.mark()``."""
    return S3RequestLog(moto_server)


# --------------------------------------------------------------------------
# the FX rates API
# --------------------------------------------------------------------------


@pytest.fixture
def rates_api(monkeypatch) -> Iterator[RatesServer]:
    """A rates API on a free loopback port serving ``SAMPLE_RATES`` for any date.

    ``ETL_FX_API_URL`` and ``ETL_FX_TOKEN`` point the pipeline at it; it is
    always stopped. Tell it faults with ``fail``, ``slow``, ``drop``, ``serve``.
    """
    with rates_server(SAMPLE_RATES, TEST_TOKEN) as server:
        monkeypatch.setenv("ETL_FX_API_URL", server.url)
        monkeypatch.setenv("ETL_FX_TOKEN", TEST_TOKEN)
        yield server


# --------------------------------------------------------------------------
# luigid
# --------------------------------------------------------------------------


@pytest.fixture
def luigid(tmp_path_factory) -> Iterator[Luigid]:
    """A real ``luigid`` subprocess on a free port, with its state in a temp folder."""
    with start_luigid(tmp_path_factory.mktemp("luigid")) as scheduler:
        yield scheduler


# --------------------------------------------------------------------------
# Lakes and landing areas
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _never_the_repository_lake(tmp_path, monkeypatch) -> None:
    """Configuration-driven roots point into the test's temp folder, never data/."""
    for name, value in etl_roots(tmp_path / "lake", tmp_path / "landing",
                                 tmp_path / "logs").items():
        monkeypatch.setenv(name, value)


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


@pytest.fixture(scope="session")
def landing_copier():
    """``landing_copier(landing_root, *days)`` copies those sample SO files there."""
    return landing.copy_landing


@pytest.fixture(scope="session")
def lake_snapshot():
    """``lake_snapshot(root) -> {relative path: (inode, mtime_ns, size)}``, hidden files too."""
    return lakes.snapshot


# --------------------------------------------------------------------------
# luigi builds, observed through luigi's public events
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def luigi_build():
    """``luigi_build([tasks...], **luigi.build options) -> Build``."""
    return builds.build
