"""Workers on a second host, as README's "Many machines" starts them: host A runs the S3
mode (docker-compose.yml with docker-compose.s3.yml) with Redis and the store published,
and no worker of its own; host B is docker-compose.worker.yml alone, in a compose project
of its own, so on a network of its own: its workers reach A only through the published
ports, as another machine would. Jobs given to A's web are done by B's workers and
download whole from A's web; B mounts nothing and runs nothing but workers; `down -v` of
both leaves no container, volume or network.

On this one machine A publishes on the host's address on Docker's default bridge, which
every container reaches (never 0.0.0.0, never a fixed port).

Skipped without a Docker engine unless IMG2VID_REQUIRE_DOCKER=1 (as test_compose.py).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from img2vid.testing import free_port

from composetools import (
    COMPOSE_FILE,
    PASSWORD,
    S3_COMPOSE_FILE,
    WORKER_COMPOSE_FILE,
    Compose,
    require_docker,
)
from servicetools import multipart, png_bytes
from videotools import needs_ffprobe, probe_stream

BUCKET = "img2vid-hosts-test"
ACCESS_KEY, SECRET_KEY = "hosts-test-key", "hosts-test-secret-key"
WORKERS = 2


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def _inspect(container: str) -> dict:
    return json.loads(_docker("inspect", "--format", "{{json .}}", container))


def _left_behind(project: str) -> dict[str, list[str]]:
    label = f"label=com.docker.compose.project={project}"
    lists = {"containers": ["ps", "--all"], "volumes": ["volume", "ls"], "networks": ["network", "ls"]}
    return {kind: _docker(*argv, "--quiet", "--filter", label).split() for kind, argv in lists.items()}


def _bridge_gateway() -> str:
    """This machine's address on Docker's default bridge: containers of any project reach
    it (Docker gives a bridge its subnet's first address when none is configured)."""
    (config,) = json.loads(_docker("network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"))
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def _free_port_on(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _unused_inputs() -> Path:
    # The base file binds IMG2VID_INPUTS; both files here drop that mount (and every other).
    return Path(tempfile.mkdtemp(prefix="img2vid-hosts-unused-"))


def _down(compose: Compose) -> None:
    logs = compose.run("logs", "--no-color", check=False).stdout
    Path("test-artifacts").mkdir(exist_ok=True)
    Path(f"test-artifacts/{compose.project}.log").write_text(logs)
    compose.run("down", "--volumes", "--timeout", "30")
    _nothing_left(compose)


def _nothing_left(compose: Compose) -> None:
    # down -v leaves nothing of the project: no container, no volume, no network
    left = _left_behind(compose.project)
    assert left == {"containers": [], "volumes": [], "networks": []}, (compose.project, left)


@pytest.fixture(scope="module")
def host_a():
    """The S3 stack with Redis and the store published where host B's containers reach
    them, and no worker: only B's can do a job."""
    require_docker()
    address, unused_inputs = _bridge_gateway(), _unused_inputs()
    compose = Compose(
        ["docker", "compose"],
        f"img2vid-host-a-{uuid.uuid4().hex[:8]}",
        free_port(),
        unused_inputs,
        env={
            "IMG2VID_REDIS_BIND": address,
            "IMG2VID_REDIS_PORT": str(_free_port_on(address)),
            "IMG2VID_S3_BIND": address,
            "IMG2VID_S3_PORT": str(_free_port_on(address)),
            "IMG2VID_S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
        },
        files=(COMPOSE_FILE, S3_COMPOSE_FILE),
    )
    try:
        with compose.started(0):
            yield compose
    finally:
        shutil.rmtree(unused_inputs, ignore_errors=True)
        _nothing_left(compose)


@pytest.fixture(scope="module")
def host_b(host_a):
    """Workers only, given A's addresses as host B's .env would give them."""
    a, unused_inputs = host_a.env, _unused_inputs()
    compose = Compose(
        ["docker", "compose"],
        f"img2vid-host-b-{uuid.uuid4().hex[:8]}",
        free_port(),
        unused_inputs,
        env={
            "IMG2VID_REDIS_URL": f"redis://:{PASSWORD}@{a['IMG2VID_REDIS_BIND']}:{a['IMG2VID_REDIS_PORT']}/0",
            "IMG2VID_S3_ENDPOINT_URL": f"http://{a['IMG2VID_S3_BIND']}:{a['IMG2VID_S3_PORT']}",
            "IMG2VID_S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
        },
        files=(WORKER_COMPOSE_FILE,),
    )
    # As host B builds it from the same checkout (on this engine: the layers A built)
    compose.run("build", "worker", timeout=1800)
    try:
        compose.run("up", "--detach", "--scale", f"worker={WORKERS}")
        # A's web counts B's workers: their heartbeats reach A's Redis
        host_a.wait_ready(workers=WORKERS)
        yield compose
    finally:
        shutil.rmtree(unused_inputs, ignore_errors=True)
        _down(compose)


def _config(compose: Compose, check: bool = True) -> subprocess.CompletedProcess:
    return compose.run("config", "--format", "json", check=check)


# --- the worker file, without an engine's containers ----------------------------------


def _worker_file(env: dict[str, str]) -> Compose:
    return Compose(["docker", "compose"], "img2vid-host-b-config", 1, Path("unused"), env, (WORKER_COMPOSE_FILE,))


def test_the_worker_file_refuses_to_start_without_the_main_hosts_addresses():
    require_docker()
    redis_url, endpoint = "redis://:pw@192.0.2.10:6379/0", "http://192.0.2.10:8333"
    # given host B's .env without one of the two addresses, then compose refuses, naming it
    for env, missing in (
        ({"IMG2VID_S3_ENDPOINT_URL": endpoint}, "IMG2VID_REDIS_URL"),
        ({"IMG2VID_REDIS_URL": redis_url}, "IMG2VID_S3_ENDPOINT_URL"),
    ):
        refused = _config(_worker_file(env), check=False)
        assert refused.returncode != 0 and f"required variable {missing} is missing" in refused.stderr, refused.stderr
    # and with both it is one worker service, no volume, nothing to wait for
    config = json.loads(
        _config(_worker_file({"IMG2VID_REDIS_URL": redis_url, "IMG2VID_S3_ENDPOINT_URL": endpoint})).stdout
    )
    assert list(config["services"]) == ["worker"] and not config.get("volumes")
    worker = config["services"]["worker"]
    assert "volumes" not in worker and "depends_on" not in worker and "ports" not in worker
    assert worker["image"].startswith("img2vid-worker:") and worker["build"]["dockerfile"] == "Dockerfile.worker"


def test_the_worker_file_gives_workers_the_settings_of_the_s3_mode():
    require_docker()
    # given the same .env on both hosts (not the defaults, so that each must come through)
    shared = {
        "IMG2VID_S3_BUCKET": "shared-bucket",
        "IMG2VID_S3_PREFIX": "team/img2vid/",
        "IMG2VID_S3_REGION": "eu-west-1",
        "S3_ACCESS_KEY": "shared-key",
        "S3_SECRET_KEY": "shared-secret-key",
        "IMG2VID_S3_RETRY_SECONDS": "90",
        "IMG2VID_RETENTION_SECONDS": "3600",
        "IMG2VID_MAX_FRAMES": "500",
        "IMG2VID_SECRET_KEY": "shared-session-key",
    }
    main = Compose(
        ["docker", "compose"], "img2vid-host-a-config", 1, Path("unused"), shared, (COMPOSE_FILE, S3_COMPOSE_FILE)
    )
    addresses = {
        "IMG2VID_REDIS_URL": "redis://:pw@192.0.2.10:6379/0",
        "IMG2VID_S3_ENDPOINT_URL": "http://192.0.2.10:8333",
    }
    on_a = json.loads(_config(main).stdout)["services"]["worker"]["environment"]
    on_b = json.loads(_config(_worker_file({**shared, **addresses})).stdout)["services"]["worker"]["environment"]
    # then B's workers get what A's get, but the two addresses and the presigned URLs' (web's)
    web_only = {"IMG2VID_S3_PRESIGN_SECONDS", "IMG2VID_S3_PUBLIC_ENDPOINT_URL"}
    assert {k: v for k, v in on_b.items() if k not in addresses} == {
        k: v for k, v in on_a.items() if k not in {*addresses, *web_only}
    }
    assert {k: on_b[k] for k in addresses} == addresses


# --- two hosts ------------------------------------------------------------------------


def test_host_b_runs_only_workers_that_mount_nothing_and_share_no_network_with_host_a(host_a, host_b):
    # given host A without a worker, and host B's two workers
    assert host_a.run("ps", "--all", "--quiet", "worker").stdout.split() == []
    workers = host_b.containers("worker")
    assert len(workers) == WORKERS
    # then host B's project is those workers and its network: no Redis, no store, no
    # bucket maker, no volume (not even an empty one)
    left = _left_behind(host_b.project)
    assert sorted(left["containers"]) == sorted(c[:12] for c in workers) and left["volumes"] == [], left
    a_networks = {
        n for c in _left_behind(host_a.project)["containers"] for n in _inspect(c)["NetworkSettings"]["Networks"]
    }
    for container in workers:
        inspected = _inspect(container)
        # no mount at all, and only B's own network: A is reached through its published ports
        assert inspected["Mounts"] == [] and not inspected["Config"]["Volumes"], inspected["Name"]
        assert set(inspected["NetworkSettings"]["Networks"]).isdisjoint(a_networks), inspected["Name"]
    # and A publishes Redis and the store on the address asked for, web on this machine only
    a = host_a.env
    assert host_a.run("port", "redis", "6379").stdout.strip() == f"{a['IMG2VID_REDIS_BIND']}:{a['IMG2VID_REDIS_PORT']}"
    assert host_a.run("port", "seaweedfs", "8333").stdout.strip() == f"{a['IMG2VID_S3_BIND']}:{a['IMG2VID_S3_PORT']}"
    assert host_a.run("port", "web", "8000").stdout.strip() == f"127.0.0.1:{host_a.port}"
    ready = host_a.readyz()
    assert ready["workers"] == WORKERS and ready["storage"] == {"kind": "s3", "ok": True}, ready


def _upload_job(stack: Compose, frames: int, codec: str) -> str:
    files = [("frames", f"f_{i}.png", png_bytes(i)) for i in range(frames)]
    body, ctype = multipart({"fps": "6", "codec": codec}, files)
    status, job = stack.request("POST", "/api/v1/jobs", raw=body, headers={"Content-Type": ctype})
    assert status == 202, job
    return job["id"]


@needs_ffprobe
def test_jobs_given_to_host_a_are_done_by_host_bs_workers_and_download_whole_from_host_a(host_a, host_b, tmp_path):
    # given B's workers' hostnames (a worker is celery@<its container's hostname>)
    on_b = {_inspect(c)["Config"]["Hostname"] for c in host_b.containers("worker")}
    # when four jobs upload their frames to A's web
    jobs = {_upload_job(host_a, 12 + i, codec): 12 + i for i, codec in enumerate(("h264", "mp4v", "h264", "mp4v"))}

    for job_id, frames in jobs.items():
        # then each succeeds, once, on one of B's workers
        done = host_a.wait_state(job_id, "succeeded", "failed", timeout=120)
        assert done["state"] == "succeeded" and done["attempts"] == 1, done
        worker = host_a.store(f"store.get({job_id!r}).worker")
        assert worker.split("@", 1)[1] in on_b, (worker, on_b)
        # and its video, which B's worker put in the store, downloads whole from A's web
        status, video = host_a.request("GET", done["result"]["video_url"])
        assert status == 200 and len(video) == done["result"]["bytes"]
        path = tmp_path / f"{job_id}.mp4"
        path.write_bytes(video)
        assert int(probe_stream(path, "nb_read_frames")["nb_read_frames"]) == frames
        status, poster = host_a.request("GET", done["result"]["poster_url"])
        assert status == 200 and poster[:2] == b"\xff\xd8"
