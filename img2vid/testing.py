"""The test harness: the whole system as local processes that a test can kill or
restart one at a time (as ``celery.contrib.testing`` gives Celery's users a worker).

``Stack`` starts exactly what ``img2vid up`` starts (img2vid/cli/processes.py), so what
the tests exercise is what a user runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis

from img2vid.cli.processes import (
    free_port,
    ready_workers,
    redis_argv,
    wait_until,
    web_argv,
    weed_argv,
    weed_env,
    weed_identities,
    worker_argv,
)

__all__ = ["Proc", "Stack", "free_port", "s3_settings", "wait_until"]


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
        with open(log, "ab") as out:  # the process keeps its own copy of the descriptor
            popen = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own process group: stop() reaches the children
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_redis(
        self, port: int | None = None, *, appendonly: bool = False, name: str = "redis"
    ) -> tuple[Proc, str]:
        port = port or free_port()
        rdir = self.data_dir / f".{name}"
        rdir.mkdir(parents=True, exist_ok=True)
        proc = self._spawn(name, redis_argv(port, rdir, appendonly=appendonly))
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(
            lambda: redis.Redis.from_url(url, socket_connect_timeout=0.2).ping(), 10, f"redis on port {port}", proc=proc
        )
        return proc, url

    def start_weed(
        self, *, bucket: str = "img2vid", access_key: str = "img2vid-test", secret_key: str = "img2vid-test-secret"
    ) -> tuple[Proc, dict[str, str]]:
        """SeaweedFS with its S3 API, one identity, and ``bucket`` made; returns it and
        the settings that point web and workers at it (for ``env``)."""
        from img2vid.storage.s3client import create_bucket

        port = free_port()
        wdir = self.data_dir / ".seaweedfs"
        wdir.mkdir(parents=True, exist_ok=True)
        config = weed_identities(wdir / "s3.json", access_key, secret_key)
        proc = self._spawn("seaweedfs", weed_argv(wdir, port, config))
        env = weed_env(f"http://127.0.0.1:{port}", bucket, access_key, secret_key)
        settings = s3_settings(env)
        # Its S3 API answers a few seconds after start (the filer waits for the master).
        wait_until(lambda: create_bucket(settings) or True, 60, f"SeaweedFS's S3 API on port {port}", 0.2, proc)
        return proc, env

    def restart(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 15) -> Proc:
        """Stop ``proc`` (with ``sig``) and start its command again, with the same log."""
        proc.stop(sig, timeout=timeout)
        self.procs.remove(proc)
        return self._spawn(proc.name, list(proc.popen.args))

    def start_worker(
        self, name: str = "worker1", concurrency: int = 1, extra: list[str] | None = None, cpus: str | None = None
    ) -> Proc:
        """A `celery worker`; ``cpus`` ("0", "0,1") pins it and its pool with taskset."""
        pin = ["taskset", "-c", cpus] if cpus else []
        return self._spawn(name, pin + worker_argv(name, concurrency, extra))

    def start_web(
        self, port: int | None = None, workers: int = 2, env: dict[str, str] | None = None, name: str = "web"
    ) -> tuple[Proc, str]:
        """gunicorn on ``port``; ``env`` adds to (or overrides) the stack's settings for it alone."""
        port = port or free_port()
        proc = self._spawn(name, web_argv(port, workers), env=env)
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: urllib.request.urlopen(f"{url}/healthz", timeout=1).status == 200,
            30,
            f"gunicorn on port {port}",
            proc=proc,
        )
        return proc, url

    def wait_workers(self, base_url: str, count: int = 1, timeout: float = 30) -> None:
        wait_until(lambda: ready_workers(base_url) >= count, timeout, f"{count} worker(s) to report in")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def s3_settings(env: dict[str, str]):
    """The settings ``env`` (start_weed's) gives a process, to reach the same store."""
    from img2vid.settings import Settings

    names = {
        "IMG2VID_STORAGE": "storage",
        "IMG2VID_S3_ENDPOINT_URL": "s3_endpoint_url",
        "IMG2VID_S3_BUCKET": "s3_bucket",
        "IMG2VID_S3_REGION": "s3_region",
        "IMG2VID_S3_PREFIX": "s3_prefix",
        "AWS_ACCESS_KEY_ID": "aws_access_key_id",
        "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    }
    return Settings.from_env(**{field: env[var] for var, field in names.items() if var in env})
