"""A command run on a pseudo-terminal, where progress bars are drawn."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Mapping, Sequence, Tuple


def run_on_a_terminal(argv: Sequence[str], env: Mapping[str, str], cwd,
                      timeout: float = 180) -> Tuple[int, str]:
    """Runs ``argv`` with stdout and stderr on a pseudo-terminal; returns (exit status, output)."""
    import pty

    master, slave = pty.openpty()
    shown = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=slave, stderr=slave)
        os.close(slave)
        code = process.wait(timeout=timeout)
        reader.join(timeout=10)
    finally:
        os.close(master)
    return code, shown.decode(errors="replace")
