"""Subprocess servers on free loopback ports, always stopped."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Optional


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen, log: Path,
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


def stop(process: subprocess.Popen) -> None:
    """Terminates ``process`` (killing it if it will not go) and reaps it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running(argv: List[str], probe_path: str, port: int, log: Path,
            env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None) -> Iterator[str]:
    """Starts ``argv`` and yields ``http://127.0.0.1:<port>`` once it answers; stops it after.

    Args:
        argv: the server's command line; it must listen on ``port``.
        probe_path: a path that answers (any HTTP status) once the server is up.
        port: where it listens.
        log: receives the server's stdout and stderr.
        env: variables added to this process's environment.
        cwd: its working directory.
    """
    with open(log, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(base + probe_path, process, log)
        yield base
    finally:
        stop(process)
