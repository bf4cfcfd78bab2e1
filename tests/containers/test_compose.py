"""The containers as users run them: both images built from the Dockerfiles, the real
docker-compose.yml brought up with two workers, jobs through the published port, a
worker container killed mid-job, Redis restarted under queued jobs, and `down -v`.

Runs wherever a Docker engine answers (CI sets one up with
../shared/bin/docker-offline-setup); elsewhere it is skipped, saying why, unless
IMG2VID_REQUIRE_DOCKER=1, when a missing engine is a failure.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
import urllib.request
import uuid
from pathlib import Path

import pytest

from img2vid.testing import free_port, wait_until

from composetools import Compose, require_docker
from servicetools import HEAVY_CACHE, frames_in, multipart, png_bytes
from videotools import needs_ffprobe, probe_stream


@pytest.fixture(scope="module")
def inputs():
    # Under /tmp and world-readable: the containers' non-root user reads it through the
    # read-only bind mount, and pytest's own temporary folders are private to root.
    folder = Path(tempfile.mkdtemp(prefix="img2vid-compose-inputs-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(inputs):
    require_docker()
    compose = Compose(
        ["docker", "compose"],
        f"img2vid-test-{uuid.uuid4().hex[:8]}",
        free_port(),
        inputs,
        env={"FLOWER_PORT": str(free_port())},
    )
    with compose.started(2, "--profile", "monitoring"):
        yield compose
    # down -v leaves none of the project's volumes behind
    left = subprocess.run(
        ["docker", "volume", "ls", "--quiet", "--filter", f"label=com.docker.compose.project={compose.project}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not left, left


def _folder_job(stack: Compose, frames: int, **spec) -> str:
    rel = f"clip-{uuid.uuid4().hex[:8]}"
    frames_in(stack.inputs / rel, frames)
    status, job = stack.request("POST", "/api/v1/jobs", body={"source": {"dir": rel}, "fps": 10, **spec})
    assert status == 202, job
    return job["id"]


def _heavy_folder(stack: Compose, frames: int) -> str:
    """A folder of 1080p textured frames: a job on it runs for seconds in a container."""
    from bench.framegen import ensure_frames

    ensure_frames(HEAVY_CACHE, frames)
    rel = f"heavy-{uuid.uuid4().hex[:8]}"
    (stack.inputs / rel).mkdir()
    for i in range(frames):
        shutil.copyfile(HEAVY_CACHE / f"frame_{i:05d}.jpg", stack.inputs / rel / f"frame_{i:05d}.jpg")
    return rel


def _frames_in_video(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    return int(probe_stream(path, "nb_read_frames")["nb_read_frames"])


# --- the images ------------------------------------------------------------------------


def _in_image(image: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python", image, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_image_carries_only_its_own_side_and_runs_as_a_user(stack):
    for image, own, other, code_dir in (
        ("img2vid-web", "import flask, gunicorn", "import cv2", "web"),
        ("img2vid-worker", "import cv2, av, celery", "import flask", "worker"),
    ):
        # given the image compose built, then its own stack imports and the other side's does not
        assert _in_image(image, own).returncode == 0, _in_image(image, own).stderr
        refused = _in_image(image, other)
        assert refused.returncode != 0 and "ModuleNotFoundError" in refused.stderr
        listing = _in_image(image, "import os; print(sorted(os.listdir('/app')))").stdout
        assert code_dir in listing and "tests" not in listing and ".venv" not in listing
        config = json.loads(
            subprocess.run(
                ["docker", "image", "inspect", "--format", "{{json .Config}}", image],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert config["User"] == "10001:10001"
        assert config["Healthcheck"]["Test"][0] == "CMD"


def test_the_web_app_is_published_on_this_machine_only_unless_asked(stack):
    # given the stack as `docker compose up` starts it, then its port is on the loopback alone
    assert stack.run("port", "web", "8000").stdout.strip() == f"127.0.0.1:{stack.port}"
    # and IMG2VID_BIND is the one setting that publishes it wider
    config = stack.run("config", "--format", "json").stdout
    assert json.loads(config)["services"]["web"]["ports"][0]["host_ip"] == "127.0.0.1"
    wider = dataclasses.replace(stack, env={**stack.env, "IMG2VID_BIND": "0.0.0.0"}).run("config", "--format", "json")
    assert json.loads(wider.stdout)["services"]["web"]["ports"][0]["host_ip"] == "0.0.0.0"


# --- jobs through the published port --------------------------------------------------


@needs_ffprobe
def test_an_upload_job_through_the_published_port_gives_a_whole_video(stack, tmp_path):
    # given 12 pictures uploaded through the web container's published port
    body, ctype = multipart(
        {"fps": "6", "codec": "h264"}, [("frames", f"frame_{i}.png", png_bytes(i)) for i in range(12)]
    )
    status, job = stack.request("POST", "/api/v1/jobs", raw=body, headers={"Content-Type": ctype})
    assert status == 202, job

    # when a worker container has encoded it
    done = stack.wait_state(job["id"], "succeeded", "failed")

    # then the video fetched back through the port holds every frame
    assert done["state"] == "succeeded", done["error"]
    status, video = stack.request("GET", done["result"]["video_url"])
    assert status == 200 and _frames_in_video(video, tmp_path) == 12
    status, poster = stack.request("GET", done["result"]["poster_url"])
    assert status == 200 and poster[:2] == b"\xff\xd8"


HEAVY_FRAMES = 150


def _job_being_encoded(stack: Compose) -> tuple[str, str]:
    """(job id, id of the container running it) for a job of 1080p frames caught while
    it encodes, on a folder bound read-only into /data/inputs."""
    rel = _heavy_folder(stack, HEAVY_FRAMES)
    status, job = stack.request("POST", "/api/v1/jobs", body={"source": {"dir": rel}, "fps": 25, "codec": "h264"})
    assert status == 202, job
    job_id = job["id"]
    wait_until(lambda: stack.job(job_id)["progress"]["frames_done"] > 0, 120, "the job to be encoding", step=0.2)
    worker = stack.store(f"store.get({job_id!r}).worker")  # celery@<container hostname>
    container = worker.split("@", 1)[1]
    assert any(c.startswith(container) for c in stack.containers("worker")), (worker, stack.containers("worker"))
    return job_id, container


def _runs(stack: Compose, job_id: str) -> list[dict]:
    """The job's run log: every start and end, with its outcome."""
    return stack.store(f"store.runs({job_id!r})")


def _assert_whole_video(stack: Compose, job_id: str, tmp_path: Path) -> dict:
    done = stack.wait_state(job_id, "succeeded", "failed", timeout=240)
    assert done["state"] == "succeeded", done["error"]
    status, video = stack.request("GET", done["result"]["video_url"])
    assert status == 200 and _frames_in_video(video, tmp_path) == HEAVY_FRAMES
    return done


def _restore_workers(stack: Compose) -> None:
    # Docker restarts neither a killed nor a stopped container (both count as by hand).
    stack.run("up", "--detach", "--scale", "worker=2", "--no-recreate")
    stack.wait_ready(workers=2)


@needs_ffprobe
def test_a_job_survives_docker_kill_of_the_worker_container_running_it(stack, tmp_path):
    # given a job being encoded
    job_id, container = _job_being_encoded(stack)

    # when the container running it is killed outright
    subprocess.run(["docker", "kill", container], check=True, capture_output=True, timeout=60)

    # then the other worker finishes it, once, with every frame
    done = _assert_whole_video(stack, job_id, tmp_path)
    assert done["attempts"] >= 2
    assert sum(1 for r in _runs(stack, job_id) if r.get("outcome") == "succeeded") == 1
    _restore_workers(stack)


@needs_ffprobe
def test_docker_stop_hands_the_running_job_back_and_the_worker_exits_in_its_grace_period(stack, tmp_path):
    # given a job being encoded
    job_id, container = _job_being_encoded(stack)

    # when its container is stopped as `docker compose stop` or `down` would (SIGTERM)
    subprocess.run(["docker", "stop", "--time", "30", container], check=True, capture_output=True, timeout=60)

    # then the worker gave the job back and exited by itself, not killed at the grace
    # period's end (exit status 0, not 137)
    status = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.ExitCode}}", container], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert status == "0"
    first_end = _runs(stack, job_id)[1]
    assert first_end["ev"] == "end" and first_end["outcome"] == "handed_back", first_end
    # and the other worker finishes it, whole
    _assert_whole_video(stack, job_id, tmp_path)
    _restore_workers(stack)


def test_flower_in_the_monitoring_profile_sees_the_workers(stack):
    # given the stack, when the optional monitoring profile is brought up
    stack.run("--profile", "monitoring", "up", "--detach", "--build", "flower", timeout=1800)

    # then Flower answers on its port (this machine only) and lists both workers
    flower = f"http://127.0.0.1:{stack.env['FLOWER_PORT']}"
    workers = {c[:12] for c in stack.containers("worker")}

    def listed():
        with urllib.request.urlopen(f"{flower}/workers", timeout=5) as r:
            page = r.read().decode()
        return all(f"celery@{w}" in page for w in workers)

    wait_until(listed, 120, "Flower to list the workers", step=1)


def test_queued_jobs_survive_a_restart_of_redis(stack):
    # given three jobs queued while no worker runs
    stack.run("stop", "worker")
    ids = [_folder_job(stack, 5) for _ in range(3)]
    assert [stack.job(i)["state"] for i in ids] == ["queued"] * 3

    # when the redis container restarts (append-only file on its own volume)
    stack.run("restart", "redis")
    wait_until(lambda: stack.readyz().get("redis"), 120, "web to reach redis again", step=0.5)

    # then the jobs and their queue messages are still there: once workers are back,
    # each runs once, well before the reaper would re-send a lost message (120 s)
    assert [stack.job(i)["state"] for i in ids] == ["queued"] * 3
    stack.run("start", "worker")
    for job_id in ids:
        done = stack.wait_state(job_id, "succeeded", "failed", timeout=90)
        assert done["state"] == "succeeded" and done["attempts"] == 1, done


# --- Compose v1 ---------------------------------------------------------------------------


def test_the_same_file_runs_under_docker_compose_v1(stack, inputs):
    # given the images built above and Debian's docker-compose 1.x
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed")
    v1 = Compose(["docker-compose"], f"img2vid-v1-{uuid.uuid4().hex[:8]}", free_port(), inputs)
    try:
        # when it brings the file up
        v1.run("up", "--detach", "--scale", "worker=1")
        v1.wait_ready(workers=1)

        # then a job goes through it
        job_id = _folder_job(v1, 4)
        assert v1.wait_state(job_id, "succeeded", "failed")["state"] == "succeeded"
    finally:
        v1.run("down", "--volumes", "--timeout", "30", check=False)
    # and down -v removed its volumes
    volumes = subprocess.run(["docker", "volume", "ls", "--quiet"], capture_output=True, text=True).stdout
    assert v1.project not in volumes
