"""A real central scheduler: a ``luigid`` subprocess and its JSON API."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator, NamedTuple

from support.paths import LUIGI_CFG, VENV_BIN
from support.servers import free_port, running


class Luigid(NamedTuple):
    """A running central scheduler: ``host, port = luigid``."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def api(self, method: str, **arguments) -> dict:
        """Calls the scheduler's JSON API: ``/api/<method>?data=<json>``, as luigi's web UI does."""
        query = urllib.parse.urlencode({"data": json.dumps(arguments)})
        with urllib.request.urlopen(f"{self.url}/api/{method}?{query}", timeout=10) as answer:
            return json.loads(answer.read())["response"]


@contextlib.contextmanager
def start_luigid(folder: Path) -> Iterator[Luigid]:
    """``luigid`` on a free loopback port, its state and logs in ``folder``; stopped after the block."""
    port = free_port()
    argv = [str(VENV_BIN / "luigid"), "--address", "127.0.0.1", "--port", str(port),
            "--state-path", str(folder / "state.pickle"), "--logdir", str(folder)]
    env = {"LUIGI_CONFIG_PATH": str(LUIGI_CFG)}
    with running(argv, "/api/task_list", port, folder / "luigid.log", env=env, cwd=folder):
        yield Luigid("127.0.0.1", port)
