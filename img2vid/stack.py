"""Starting the whole system as local processes: Redis, Celery workers, gunicorn.

``img2vid up`` runs it for a person; the tests and benchmarks run it the same way, so
what they exercise is what a user starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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


def redis_server_binary() -> str:
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("img2vid up needs redis-server (apt-get install redis-server) or REDIS_URL pointing at a Redis")


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
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
        proc = self._spawn(name, [
            redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
            "--save", "", "--appendonly", "yes" if appendonly else "no", "--daemonize", "no",
        ])
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: redis.Redis.from_url(url, socket_connect_timeout=0.2).ping(), 10, f"redis on port {port}", proc=proc)
        return proc, url

    def start_worker(self, name: str = "worker1", concurrency: int = 1, extra: list[str] | None = None) -> Proc:
        return self._spawn(name, [
            str(BIN / "celery"), "--app", "worker", "worker", "--loglevel", "INFO",
            "--concurrency", str(concurrency), "--hostname", f"{name}@%h",
            "--queues", self.env.get("IMG2VID_QUEUE") or os.environ.get("IMG2VID_QUEUE") or "img2vid",
            # Neighbour discovery costs a second at start and nothing here needs it.
            "--without-mingle", "--without-gossip",
            *(extra or []),
        ])

    def start_web(self, port: int | None = None, workers: int = 2) -> tuple[Proc, str]:
        port = port or free_port()
        # The timeout is given here, not left to gunicorn.conf.py, which gunicorn reads
        # only from the current folder: uploads need longer than gunicorn's 30 s.
        proc = self._spawn("web", [
            str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--timeout", os.environ.get("WEB_TIMEOUT", "300"),
            "web:create_app()",
        ])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200, 30,
                   f"gunicorn on port {port}", proc=proc)
        return proc, url

    def wait_workers(self, base_url: str, count: int = 1, timeout: float = 30) -> None:
        import json

        def ready():
            try:
                with urllib.request.urlopen(f"{base_url}/readyz", timeout=1) as r:
                    return json.load(r)["workers"] >= count
            except urllib.error.HTTPError as e:
                return json.load(e)["workers"] >= count

        wait_until(ready, timeout, f"{count} worker(s) to report in")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
