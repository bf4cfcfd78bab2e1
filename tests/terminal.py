"""Running a command with its stderr on a pseudo-terminal, as a person at a shell would."""

from __future__ import annotations

import os
import pty
import subprocess


def run_on_terminal(argv: list[str], timeout: float) -> tuple[subprocess.Popen, str, bytes]:
    """(process, its stdout, what it wrote to the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    out, _ = proc.communicate(timeout=timeout)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return proc, out, seen
