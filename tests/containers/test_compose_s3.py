"""The S3 mode in containers, as users start it: docker-compose.yml with
docker-compose.s3.yml over it. SeaweedFS is the store and a one-shot service makes the
bucket; two workers mount no volume at all; upload jobs through the published web port
and a folder job whose frames were put into the bucket all give whole videos; the
store restarted while a job runs (the job waits it out); and `down -v` leaves no
container, volume or network behind.

Skipped without a Docker engine unless IMG2VID_REQUIRE_DOCKER=1 (as test_compose.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import botocore.exceptions as bx
import pytest

from img2vid.storage.s3client import make_client
from img2vid.testing import free_port, s3_settings, wait_until

from composetools import COMPOSE_FILE, S3_COMPOSE_FILE, Compose, require_docker
from servicetools import HEAVY_CACHE, multipart, png_bytes
from videotools import needs_ffprobe, probe_stream

# Not the file's defaults: what the test sets must reach the store, the bucket's maker,
# web and workers alike.
BUCKET = "img2vid-compose-test"
ACCESS_KEY, SECRET_KEY = "compose-test-key", "compose-test-secret-key"


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def _left_behind(project: str) -> dict[str, list[str]]:
    label = f"label=com.docker.compose.project={project}"
    lists = {"containers": ["ps", "--all"], "volumes": ["volume", "ls"], "networks": ["network", "ls"]}
    return {kind: _docker(*argv, "--quiet", "--filter", label).split() for kind, argv in lists.items()}


@pytest.fixture(scope="module")
def stack():
    require_docker()
    # The base file binds IMG2VID_INPUTS; the S3 file drops that mount (and every other).
    unused_inputs = Path(tempfile.mkdtemp(prefix="img2vid-s3-compose-unused-"))
    compose = Compose(
        ["docker", "compose"],
        f"img2vid-s3-{uuid.uuid4().hex[:8]}",
        free_port(),
        unused_inputs,
        env={
            "IMG2VID_S3_PORT": str(free_port()),
            "IMG2VID_S3_BUCKET": BUCKET,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
        },
        files=(COMPOSE_FILE, S3_COMPOSE_FILE),
    )
    try:
        with compose.started(2):
            yield compose
    finally:
        shutil.rmtree(unused_inputs, ignore_errors=True)
        # down -v leaves nothing of the project: no container (the bucket's one-shot
        # included), no volume (the store's data included), no network
        left = _left_behind(compose.project)
        assert left == {"containers": [], "volumes": [], "networks": []}, left


@pytest.fixture(scope="module")
def bucket(stack):
    """The store through its published port (this machine only), as whoever has the
    frames of a folder job puts them in: through boto3, with the project's client."""
    return make_client(s3_settings(_store_env(stack)))


def _store_env(stack: Compose) -> dict[str, str]:
    return {
        "IMG2VID_STORAGE": "s3",
        "IMG2VID_S3_ENDPOINT_URL": f"http://127.0.0.1:{stack.env['IMG2VID_S3_PORT']}",
        "IMG2VID_S3_BUCKET": BUCKET,
        "IMG2VID_S3_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


def _keys(client, prefix: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def _put_folder(client, rel: str, frames: dict[str, bytes]) -> None:
    """Frames under inputs/<rel>/ in the bucket, a few at a time."""
    with cf.ThreadPoolExecutor(8) as pool:
        puts = [
            pool.submit(client.put_object, Bucket=BUCKET, Key=f"inputs/{rel}/{name}", Body=data)
            for name, data in frames.items()
        ]
        for put in puts:
            put.result()


def _folder_job(stack: Compose, rel: str, **spec) -> str:
    status, job = stack.request("POST", "/api/v1/jobs", body={"source": {"dir": rel}, "fps": 10, **spec})
    assert status == 202, job
    return job["id"]


def _upload_job(stack: Compose, frames: int, codec: str) -> str:
    files = [("frames", f"f_{i}.png", png_bytes(i)) for i in range(frames)]
    body, ctype = multipart({"fps": "6", "codec": codec}, files)
    status, job = stack.request("POST", "/api/v1/jobs", raw=body, headers={"Content-Type": ctype})
    assert status == 202, job
    return job["id"]


def _whole_video(stack: Compose, client, job_id: str, frames: int, tmp_path: Path, timeout: float = 120) -> dict:
    """The finished job, once its video, downloaded through web, is what the bucket
    holds and holds every frame."""
    done = stack.wait_state(job_id, "succeeded", "failed", timeout=timeout)
    assert done["state"] == "succeeded", done["error"]
    status, video = stack.request("GET", done["result"]["video_url"])
    assert status == 200 and len(video) == done["result"]["bytes"]
    held = _keys(client, f"outputs/{job_id}/")
    assert f"outputs/{job_id}/poster.jpg" in held and len(held) == 2, held
    key = next(k for k in held if not k.endswith("/poster.jpg"))
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == video
    path = tmp_path / f"{job_id}-{Path(key).name}"
    path.write_bytes(video)
    assert int(probe_stream(path, "nb_read_frames")["nb_read_frames"]) == frames
    return done


def _worker_of(stack: Compose, job_id: str) -> str:
    """The container hostname of the worker that ran the job's latest run."""
    return stack.store(f"store.get({job_id!r}).worker").split("@", 1)[1]


# --- the stack -------------------------------------------------------------------------


def test_web_and_the_two_workers_mount_no_volume_at_all(stack):
    # given the stack as the two files start it, with two workers
    workers = stack.containers("worker")
    assert len(workers) == 2
    # then neither the workers nor web has any mount: no data volume, no inputs bind,
    # no anonymous volume (the images declare none)
    for container in [*workers, *stack.containers("web")]:
        inspected = json.loads(_docker("inspect", "--format", "{{json .}}", container))
        assert inspected["Mounts"] == [], inspected["Name"]
        assert not inspected["Config"]["Volumes"], inspected["Name"]
    # and the merged file says so too, while the store keeps its data on a named volume
    config = json.loads(stack.run("config", "--format", "json").stdout)
    services = config["services"]
    assert "volumes" not in services["web"] and "volumes" not in services["worker"]
    assert [v["source"] for v in services["seaweedfs"]["volumes"]] == ["seaweedfs"]
    assert "data" not in config.get("volumes", {})
    # and web sees the bucket
    assert stack.readyz()["storage"] == {"kind": "s3", "ok": True}


def test_the_store_takes_the_configured_key_and_no_other(stack, bucket):
    # given the bucket that the one-shot service made
    assert BUCKET in [b["Name"] for b in bucket.list_buckets()["Buckets"]]
    # then a wrong secret is refused: the key comes from S3_ACCESS_KEY / S3_SECRET_KEY
    wrong = make_client(s3_settings({**_store_env(stack), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}))
    with pytest.raises(bx.ClientError) as refused:
        wrong.head_bucket(Bucket=BUCKET)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# --- jobs --------------------------------------------------------------------------------


@needs_ffprobe
def test_upload_and_folder_jobs_keep_their_files_in_the_bucket(stack, bucket, tmp_path):
    # given a folder of 8 frames put into the bucket under inputs/ (no volume anywhere)
    rel = f"clip-{uuid.uuid4().hex[:8]}"
    _put_folder(bucket, rel, {f"frame_{i}.png": png_bytes(i) for i in range(8)})
    # when a job names it, and three jobs upload their frames through the published port
    folder_job = _folder_job(stack, rel, codec="h264")
    uploads = {_upload_job(stack, 12, codec): 12 for codec in ("h264", "mp4v", "h264")}

    # then every one succeeds, and its video, streamed back through web from the
    # bucket, is whole; the uploaded frames went into the bucket too
    _whole_video(stack, bucket, folder_job, 8, tmp_path)
    for job_id, frames in uploads.items():
        _whole_video(stack, bucket, job_id, frames, tmp_path)
        saved = _keys(bucket, f"uploads/{job_id}/")
        assert f"uploads/{job_id}/names.json" in saved and len(saved) == frames + 1, saved
    status, poster = stack.request("GET", f"/api/v1/jobs/{folder_job}/poster.jpg")
    assert status == 200 and poster[:2] == b"\xff\xd8"
    # and the workers wrote nothing outside their temp folder, and left no scratch there
    for container in stack.containers("worker"):
        wait_until(lambda c=container: not _written_by(c), 30, f"worker {container[:12]} to clear its scratch folder")


def _written_by(container: str) -> list[str]:
    """What the container changed in its own file system, but for /tmp itself, the
    Python's multiprocessing folders in it, and compose's init (init: true)."""
    changed = [line.split(" ", 1)[1] for line in _docker("diff", container).splitlines()]
    ours = {"/tmp", "/usr", "/usr/sbin", "/usr/sbin/docker-init"}
    return [p for p in changed if p not in ours and not p.startswith("/tmp/pymp-")]


HEAVY_FRAMES = 150


def _heavy_frames_in_bucket(client) -> str:
    """inputs/<rel>/ holding 1080p textured frames: a job on them encodes for seconds."""
    from bench.framegen import ensure_frames

    ensure_frames(HEAVY_CACHE, HEAVY_FRAMES)
    rel = f"heavy-{uuid.uuid4().hex[:8]}"
    names = [f"frame_{i:05d}.jpg" for i in range(HEAVY_FRAMES)]
    _put_folder(client, rel, {n: (HEAVY_CACHE / n).read_bytes() for n in names})
    return rel


def _longest_stall(samples: list[tuple[float, int]]) -> float:
    """The longest time, in seconds, over which frames_done did not move."""
    longest, since = 0.0, 0
    for i in range(1, len(samples)):
        if samples[i][1] != samples[since][1]:
            since = i
        longest = max(longest, samples[i][0] - samples[since][0])
    return longest


@needs_ffprobe
def test_a_job_waits_out_a_restart_of_the_store_on_the_worker_running_it(stack, bucket, tmp_path):
    # given a job of 1080p frames from the bucket, caught while it encodes
    heavy, small = _heavy_frames_in_bucket(bucket), f"small-{uuid.uuid4().hex[:8]}"
    _put_folder(bucket, small, {f"frame_{i}.png": png_bytes(i) for i in range(6)})
    job_id = _folder_job(stack, heavy, fps=25, codec="h264")
    wait_until(lambda: stack.job(job_id)["progress"]["frames_done"] > 0, 120, "the job to be encoding", step=0.2)
    container = _worker_of(stack, job_id)
    started = _docker("inspect", "--format", "{{.State.StartedAt}}", container).strip()
    # and a second job, which the other worker takes (the first holds its one job)
    other_job = _folder_job(stack, small)

    # when the store restarts under it (its filer takes ~15 s to stop, then ~3 s to start)
    samples: list[tuple[float, int]] = []
    with cf.ThreadPoolExecutor(1) as pool:
        restart = pool.submit(stack.run, "restart", "seaweedfs")
        t0 = time.monotonic()
        while True:  # the job's progress every half second until the restart is done
            job = stack.job(job_id)
            assert job["state"] == "running", job
            samples.append((time.monotonic() - t0, job["progress"]["frames_done"]))
            if cf.wait([restart], timeout=0.5).done:
                break
        restart.result()

    # then the job stood still while the store was away, mid-way, and did not fail
    assert samples[-1][1] < HEAVY_FRAMES and _longest_stall(samples) >= 5, samples
    # and, once the store is back, the same run on the same worker finishes it whole:
    # one attempt, the worker container never restarted
    done = _whole_video(stack, bucket, job_id, HEAVY_FRAMES, tmp_path, timeout=360)
    assert done["attempts"] == 1, done
    assert _worker_of(stack, job_id) == container
    assert _docker("inspect", "--format", "{{.State.StartedAt}}", container).strip() == started
    # and the other worker ran the second job, through the same outage
    _whole_video(stack, bucket, other_job, 6, tmp_path, timeout=360)
    assert _worker_of(stack, other_job) != container
    # and the store kept what it held: the frames from before the restart are all there
    assert len(_keys(bucket, f"inputs/{heavy}/")) == HEAVY_FRAMES


def test_up_again_finds_the_bucket_there(stack):
    # given the stack up, its bucket made by the one-shot service
    # when `up` runs again (the one-shot runs again each time)
    stack.run("up", "--detach", "--scale", "worker=2")
    stack.wait_ready(workers=2)

    # then it found the bucket there and exited 0, and web still sees it
    said = stack.run("logs", "--no-color", "s3-bucket").stdout
    assert said.count(f"bucket {BUCKET} is there") == 2 and said.count("created bucket") == 1, said
    (one_shot,) = stack.run("ps", "--all", "--quiet", "s3-bucket").stdout.split()
    assert _docker("inspect", "--format", "{{.State.ExitCode}}", one_shot).strip() == "0"
    assert stack.readyz()["storage"]["ok"]
