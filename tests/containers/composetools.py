"""Driving the real compose files: the `docker compose` (v2) or `docker-compose` (v1)
command, HTTP through the published port, and redis-cli inside the redis container."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from img2vid.testing import wait_until

from servicetools import Service

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The S3 mode: the base file with this one over it (a bucket instead of the data volume).
S3_COMPOSE_FILE = ROOT / "docker-compose.s3.yml"
# Workers only, for a host that reaches another's Redis and store.
WORKER_COMPOSE_FILE = ROOT / "docker-compose.worker.yml"
# Addresses of Redis and the store as the shell running the tests reaches them (127.0.0.1…)
# are wrong inside a container: only a test's own env may give them to compose.
NOT_INHERITED = ("IMG2VID_REDIS_URL", "IMG2VID_S3_ENDPOINT_URL")
# REDIS_PASSWORD for the test stacks; compose passes it to redis, web and worker.
PASSWORD = "compose-test-password"


def docker_missing() -> str | None:
    """Why the container tests cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "no docker command (run ../shared/bin/docker-offline-setup, or install Docker)"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
    )
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip().splitlines()[-1:] or info.returncode}"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        return "no Compose v2 plugin (`docker compose`)"
    return None


def require_docker() -> None:
    """Skip, saying why, where no Docker engine answers; fail instead when
    IMG2VID_REQUIRE_DOCKER=1 (CI, which sets one up)."""
    reason = docker_missing()
    if reason is None:
        return
    if os.environ.get("IMG2VID_REQUIRE_DOCKER") == "1":
        pytest.fail(f"IMG2VID_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(f"container tests need Docker: {reason}")


@dataclass
class Compose:
    """One compose project made from ``files``: the repository's docker-compose.yml,
    and any file over it (as ``-f a.yml -f b.yml`` gives them)."""

    command: list[str]  # ["docker", "compose"] or ["docker-compose"]
    project: str
    port: int
    inputs: Path
    env: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = (COMPOSE_FILE,)

    @contextlib.contextmanager
    def started(self, workers: int, *down_flags: str):
        """Built, up with ``workers`` workers and ready; on leaving, every service's log
        kept in test-artifacts/<project>.log and the project taken down with its volumes
        (``down_flags`` go before ``down``, e.g. a profile)."""
        self.run("build", "web", "worker", timeout=1800)
        try:
            self.run("up", "--detach", "--scale", f"worker={workers}")
            self.wait_ready(workers=workers)
            yield self
        finally:
            logs = self.run("logs", "--no-color", check=False).stdout
            Path("test-artifacts").mkdir(exist_ok=True)
            Path(f"test-artifacts/{self.project}.log").write_text(logs)
            self.run(*down_flags, "down", "--volumes", "--timeout", "30")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        argv = [
            *self.command,
            "--project-name",
            self.project,
            *(arg for path in self.files for arg in ("--file", str(path))),
            "--project-directory",
            str(ROOT),
            *args,
        ]
        env = {
            **{k: v for k, v in os.environ.items() if k not in NOT_INHERITED},
            "IMG2VID_PORT": str(self.port),
            "IMG2VID_INPUTS": str(self.inputs),
            "REDIS_PASSWORD": PASSWORD,
            "COMPOSE_DOCKER_CLI_BUILD": "1",
            "DOCKER_BUILDKIT": "1",
            **self.env,
        }
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def containers(self, service: str) -> list[str]:
        """Ids of the service's running containers."""
        return self.run("ps", "-q", service).stdout.split()

    def store(self, expression: str):
        """``expression`` evaluated on the job store (``store``) inside the web container,
        through the store's own methods and the container's settings; its JSON."""
        code = (
            "import json; from img2vid.settings import Settings; from img2vid.store import JobStore; "
            "s = Settings.from_env(); store = JobStore.from_url(s.redis_url, s.key_prefix); "
            f"print(json.dumps({expression}))"
        )
        return json.loads(self.run("exec", "-T", "web", "python", "-c", code).stdout)

    @property
    def api(self) -> Service:
        """HTTP through the published port, as the service tests speak to theirs."""
        return Service(self.url, self.inputs, None, None, "")

    def request(self, method: str, path: str, body=None, raw: bytes | None = None, headers=None):
        """(status, parsed JSON or bytes) of one HTTP request through the published port."""
        status, _, payload = self.api.request(method, path, body, headers, raw)
        return status, payload

    def readyz(self) -> dict:
        try:
            return self.request("GET", "/readyz")[1]
        except OSError:
            return {}

    def wait_ready(self, workers: int, timeout: float = 180) -> None:
        wait_until(
            lambda: (r := self.readyz()).get("redis") and r.get("workers", 0) >= workers,
            timeout,
            f"web on port {self.port} to see redis and {workers} worker(s)",
            step=0.5,
        )

    def job(self, job_id: str) -> dict:
        return self.api.get_job(job_id)

    def wait_state(self, job_id: str, *states: str, timeout: float = 120) -> dict:
        return self.api.wait_state(job_id, *states, timeout=timeout)
