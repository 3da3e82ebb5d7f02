"""A central scheduler that is not there, the README's ``luigid`` commands, plain ``luigi`` builds.

``etl-targets --scheduler-host`` naming a port where nothing listens, or
one that accepts connections and never answers, must fail within seconds
with exit 6 and one error line naming host:port (luigi's own client retries
for a minute, then fails as an unhandled error). The README's "Central
scheduler" commands are run as written, on a free port, with ``HOME`` in a
temporary folder. What a plain ``luigi`` build records is checked against
what the README says it records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from support.cli import Run, etl_argv, luigi_argv, run_command
from support.env import cli_environment
from support.landing import copy_landing, drop_column, landing_name
from support.lakes import contract_paths
from support.paths import LUIGI_CFG, REPO, SAMPLE_SO, VENV_BIN
from support.servers import free_port, wait_until_answers

JAN_1, JAN_2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
#: the README promises about 10 s; the CLI's start-up and end come on top
WITHIN_SECONDS = 20


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word; yields the port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    held: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(socket.timeout):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


def run_against(tmp_path: Path, port: int) -> tuple:
    """``etl-targets so --date 2026-01-01 --scheduler-host 127.0.0.1 --scheduler-port PORT``."""
    landing = tmp_path / "landing"
    copy_landing(landing, JAN_1)
    env = cli_environment(tmp_path / "lake", landing, tmp_path / "logs")
    started = time.monotonic()
    done = run_command(etl_argv("so", "--date", "2026-01-01", "--scheduler-host", "127.0.0.1",
                                "--scheduler-port", str(port)), cwd=tmp_path, env=env,
                       timeout=120)
    return Run.of(done), time.monotonic() - started


def error_lines(run: Run) -> List[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------
# --scheduler-host that does not answer
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nothing_listening(tmp_path_factory):
    """A run whose --scheduler-port has nothing listening: (its folder, the port, run, seconds)."""
    root = tmp_path_factory.mktemp("no-scheduler")
    port = free_port()
    return (root, port, *run_against(root, port))


def test_scheduler_host_with_nothing_listening_exits_6_within_seconds(nothing_listening):
    _, port, run, seconds = nothing_listening
    assert run.code == 6, str(run)
    assert seconds < WITHIN_SECONDS, str(run)
    (line,) = error_lines(run)
    assert f"127.0.0.1:{port}" in line and "does not answer" in line, str(run)


def test_scheduler_host_that_accepts_and_never_answers_exits_6_within_seconds(tmp_path):
    with silent_server() as port:
        run, seconds = run_against(tmp_path, port)
    assert run.code == 6, str(run)
    assert seconds < WITHIN_SECONDS, str(run)
    (line,) = error_lines(run)
    assert f"127.0.0.1:{port}" in line and "no answer" in line, str(run)


def test_unreachable_scheduler_builds_nothing_and_records_the_failure(nothing_listening):
    root, port, run, _ = nothing_listening
    assert not (root / "lake" / "bronze").exists()
    (line,) = (root / "logs" / "failures.log").read_text().splitlines()
    assert " exit=6 " in line and f"127.0.0.1:{port}" in line, line


# --------------------------------------------------------------------------
# The README's luigid commands, as written
# --------------------------------------------------------------------------

def readme_scheduler_commands() -> List[str]:
    """The shell commands of the README's "Central scheduler" code block, continuations joined."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Central scheduler", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.mark.luigid
def test_readme_luigid_commands_start_a_scheduler_that_keeps_its_state(tmp_path):
    commands = readme_scheduler_commands()
    start = [c for c in commands if c.startswith(("mkdir", "luigid"))]
    assert [c.split()[0] for c in start] == ["mkdir", "luigid"], commands
    port = free_port()
    script = "\n".join(c.replace("8082", str(port)) for c in start)
    home = tmp_path / "home"  # a fresh machine: nothing below it exists yet
    home.mkdir()
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(home),
           "LUIGI_CONFIG_PATH": str(LUIGI_CFG)}
    started = subprocess.run(["bash", "-euc", script], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    pid_file = _readme_path(start[-1], "--pidfile", home)
    state = _readme_path(start[-1], "--state-path", home)
    log = _readme_path(start[-1], "--logdir", home) / "luigi-server.log"
    pid = _wait_for_pid(pid_file)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/api/task_list", _Alive(pid), log)
    finally:
        os.kill(pid, signal.SIGTERM)  # what the README's `kill "$(cat …)"` does
    assert _gone(pid, within=15), "luigid did not stop"
    assert state.is_file(), f"no state saved at {state}"
    assert any("kill" in c and "luigid.pid" in c for c in commands), commands


def _readme_path(command: str, option: str, home: Path) -> Path:
    words = shlex.split(command)
    return Path(words[words.index(option) + 1].replace("~", str(home), 1))


def _wait_for_pid(pid_file: Path, within: float = 30) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(pid_file.read_text().strip())
        time.sleep(0.05)
    raise AssertionError(f"luigid wrote no pid file {pid_file}")


class _Alive:
    """What :func:`wait_until_answers` polls: a daemon is not our child, so ask the kernel."""

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self):
        return None if not _gone(self.pid, within=0) else -1


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


# --------------------------------------------------------------------------
# What a plain `luigi` build records (README, "What a plain luigi build records")
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_luigi(tmp_path_factory):
    """One good date and one with a file lacking Qty, each built by the plain ``luigi`` command."""
    root = tmp_path_factory.mktemp("plain-luigi")
    landing, lake, logs = root / "landing", root / "lake", root / "logs"
    copy_landing(landing, JAN_1)
    drop_column(SAMPLE_SO / landing_name(JAN_2), landing / "so" / landing_name(JAN_2), "Qty")
    env = cli_environment(lake, landing, logs)
    runs = [Run.of(run_command(luigi_argv("GoldSO", "--date", day, "--local-scheduler"),
                               cwd=root, env=env)) for day in ("2026-01-01", "2026-01-02")]
    return root, lake, logs, runs


def test_plain_luigi_builds_the_outputs_and_bronze_manifest(plain_luigi):
    _, lake, _, (good, _) = plain_luigi
    assert good.code == 0, str(good)
    paths = contract_paths(JAN_1)
    for key in ("bronze", "manifest", "silver", "rejects", "daily"):
        assert (lake / paths[key]).is_file(), key


def test_plain_luigi_failure_leaves_a_failure_marker_and_exits_30(plain_luigi):
    _, lake, _, (_, bad) = plain_luigi
    assert bad.code == 30, str(bad)
    markers = sorted(p.name for p in (lake / "_ops" / "failures" / "so" / "date=2026-01-02")
                     .iterdir())
    assert markers == ["SilverSO.json"]


def test_plain_luigi_writes_no_run_record_manifest_latest_log_or_failures_log(plain_luigi):
    root, lake, logs, _ = plain_luigi
    assert sorted(p.name for p in (lake / "_ops").iterdir()) == ["failures"]
    assert not logs.exists()
    assert [p for p in root.rglob("failures.log")] == []
