"""Fault injection on real processes: workers killed, stopped, Redis restarted. Nothing
is lost, nothing runs twice at once.

Each test gets its own system (two `celery worker` processes and gunicorn) with a short
lease (2 s) so that recovery is quick to watch.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery

from img2vid.job import Job, JobSpec
from img2vid.store import JobStore, new_job_id
from img2vid.testing import Stack, wait_until

from servicetools import HEAVY_CODEC, TEST_REDIS, Service, forget_keys, heavy_folder, input_folder
from videotools import read_back

LEASE = 2.0


class Cluster(Service):
    store: JobStore

    def worker_proc(self, job_id: str):
        name = self.store.get(job_id).worker.split("@")[0]
        return next(p for p in self.stack.procs if p.name == name and p.alive)

    def child_pid(self, job_id: str) -> int:
        return self.store.get(job_id).pid

    def submit_slow(self, frames: int = 60) -> str:
        rel = heavy_folder(self, frames)
        status, _, job = self.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": HEAVY_CODEC})
        assert status == 202, job
        return job["id"]

    def wait_encoding(self, job_id: str, runs: int = 1) -> None:
        """Until run number ``runs`` of the job has encoded a frame."""
        wait_until(
            lambda: len(self.starts(job_id)) >= runs and self.get_job(job_id)["progress"]["frames_done"] > 0,
            60,
            f"run {runs} of {job_id} to encode",
        )

    def starts(self, job_id: str) -> list[dict]:
        return [e for e in self.store.runs(job_id) if e["ev"] == "start"]


def start_system(tmp_path: Path, redis_url: str, prefix: str, workers: int, stack: Stack | None = None) -> Cluster:
    stack = stack or Stack(data_dir=tmp_path, log_dir=Path("test-artifacts/logs/faults"), env={})
    (tmp_path / "inputs").mkdir(exist_ok=True)
    stack.env.update(
        {
            "IMG2VID_REDIS_URL": redis_url,
            "IMG2VID_DATA_DIR": str(tmp_path),
            "IMG2VID_KEY_PREFIX": prefix,
            "IMG2VID_QUEUE": f"q-{prefix}",
            "IMG2VID_LEASE_SECONDS": str(LEASE),
            "IMG2VID_HEARTBEAT_SECONDS": "0.5",
            "IMG2VID_RESEND_AFTER_SECONDS": "3",
        }
    )
    for i in range(workers):
        stack.start_worker(f"w{i + 1}")
    _, url = stack.start_web()
    stack.wait_workers(url, workers)
    cluster = Cluster(url, tmp_path, stack, None, prefix)
    cluster.store = JobStore.from_url(redis_url, prefix)
    return cluster


@pytest.fixture
def cluster(tmp_path):
    prefix = f"faults-{uuid.uuid4().hex[:8]}:"
    c = start_system(tmp_path, TEST_REDIS, prefix, workers=2)
    try:
        yield c
    finally:
        c.stack.stop()
        forget_keys(redis.Redis.from_url(TEST_REDIS), prefix)


def assert_ran_once(cluster: Cluster, job_id: str) -> None:
    """One successful run, no two runs overlapping, and the video whole."""
    runs = cluster.store.runs(job_id)
    ends = [e for e in runs if e["ev"] == "end"]
    assert [e["outcome"] for e in ends].count("succeeded") == 1, runs
    open_runs: set[str] = set()
    for e in sorted(runs, key=lambda e: e["t"]):
        if e["ev"] == "start":
            assert not open_runs, f"run {e['token']} started while {open_runs} still ran: {runs}"
            open_runs.add(e["token"])
        else:
            open_runs.discard(e["token"])
    job = cluster.get_job(job_id)
    video = cluster.data / "outputs" / job_id / f"{job_id}.mp4"
    assert len(read_back(video)) == job["result"]["frames"] == job["progress"]["frames_total"]


def test_sigkill_of_the_pool_child_mid_job(cluster):
    job_id = cluster.submit_slow()
    cluster.wait_encoding(job_id)
    # when the process encoding it is killed outright
    os.kill(cluster.child_pid(job_id), signal.SIGKILL)
    killed = time.monotonic()
    # then another run finishes it within 60 s, once
    done = cluster.wait_state(job_id, "succeeded", "failed", timeout=60)
    assert done["state"] == "succeeded" and time.monotonic() - killed < 60
    assert done["attempts"] == 2
    assert_ran_once(cluster, job_id)


def test_sigkill_of_the_whole_worker_mid_job(cluster):
    job_id = cluster.submit_slow()
    cluster.wait_encoding(job_id)
    # when the whole worker (main process and pool) dies, as `docker kill` does
    proc = cluster.worker_proc(job_id)
    proc.stop(signal.SIGKILL)
    killed = time.monotonic()
    # then the other worker takes the job once its lease ends, without waiting an hour
    done = cluster.wait_state(job_id, "succeeded", "failed", timeout=60)
    assert done["state"] == "succeeded" and time.monotonic() - killed < 60
    survivors = {e["worker"] for e in cluster.starts(job_id)[1:]}
    assert proc.name not in {w.split("@")[0] for w in survivors}
    assert_ran_once(cluster, job_id)


def test_a_stale_redelivered_message_never_starts_a_second_run(cluster):
    job_id = cluster.submit_slow()
    cluster.wait_encoding(job_id)
    # when the job's message arrives again, three times, while it runs (the other worker is idle)
    sender = Celery(broker=TEST_REDIS, set_as_current=False)
    sender.conf.task_serializer = "json"
    for _ in range(3):
        sender.send_task("img2vid.encode", args=[job_id], queue=f"q-{cluster.prefix}")
    # then the copies do nothing: one run, start to end
    done = cluster.wait_state(job_id, "succeeded", "failed", timeout=60)
    assert done["state"] == "succeeded" and done["attempts"] == 1
    assert len(cluster.starts(job_id)) == 1
    assert_ran_once(cluster, job_id)
    # and a copy arriving after the end changes nothing either
    sender.send_task("img2vid.encode", args=[job_id], queue=f"q-{cluster.prefix}")
    _, _, later = cluster.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(cluster, 2)}})
    cluster.wait_state(later["id"], "succeeded")
    assert len(cluster.starts(job_id)) == 1 and cluster.get_job(job_id)["state"] == "succeeded"


def test_a_job_that_loses_its_worker_three_times_fails_with_worker_lost(cluster):
    job_id = cluster.submit_slow(90)
    for run in (1, 2, 3):
        cluster.wait_encoding(job_id, runs=run)
        os.kill(cluster.child_pid(job_id), signal.SIGKILL)
    done = cluster.wait_state(job_id, "failed", "succeeded", timeout=60)
    assert done["state"] == "failed" and done["error"]["code"] == "worker_lost"
    assert done["attempts"] == 3 and len(cluster.starts(job_id)) == 3
    assert not (cluster.data / "outputs" / job_id / f"{job_id}.mp4").exists()


def test_sigterm_hands_the_running_job_back_at_once(cluster):
    job_id = cluster.submit_slow()
    cluster.wait_encoding(job_id)
    proc = cluster.worker_proc(job_id)
    # when its worker is asked to stop, as `docker stop` does (SIGTERM to the main process only)
    os.kill(proc.popen.pid, signal.SIGTERM)
    stopped = time.monotonic()
    # then it gives the job back and exits promptly, and the other worker finishes the job
    proc.popen.wait(timeout=10)
    assert time.monotonic() - stopped < 5
    done = cluster.wait_state(job_id, "succeeded", "failed", timeout=60)
    assert done["state"] == "succeeded"
    outcomes = [e["outcome"] for e in cluster.store.runs(job_id) if e["ev"] == "end"]
    assert outcomes == ["handed_back", "succeeded"]
    assert_ran_once(cluster, job_id)


def test_a_redis_restart_loses_no_job_and_runs_none_twice(tmp_path):
    # given a private Redis that keeps an append-only file, one worker, one job running and three queued
    stack = Stack(data_dir=tmp_path, log_dir=Path("test-artifacts/logs/faults-redis"), env={})
    try:
        redis_proc, url = stack.start_redis(appendonly=True)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        cluster = start_system(tmp_path, url, "restart:", workers=1, stack=stack)
        running = cluster.submit_slow(60)
        queued = [
            cluster.request(
                "POST", "/api/v1/jobs", {"source": {"dir": input_folder(cluster, 5)}, "codec": HEAVY_CODEC}
            )[2]["id"]
            for _ in range(3)
        ]
        cluster.wait_encoding(running)
        # when Redis restarts
        redis_proc.stop()
        stack.start_redis(port, appendonly=True)
        # then every job succeeds, each once
        for job_id in [running, *queued]:
            done = cluster.wait_state(job_id, "succeeded", "failed", timeout=90)
            assert done["state"] == "succeeded", done
            assert_ran_once(cluster, job_id)
    finally:
        stack.stop()


def test_a_job_taken_back_starts_before_the_jobs_queued_after_it(tmp_path):
    # given one worker busy with a job and five more jobs (seconds each) queued behind it
    prefix = f"faults-{uuid.uuid4().hex[:8]}:"
    cluster = start_system(tmp_path, TEST_REDIS, prefix, workers=1)
    try:
        folders = [heavy_folder(cluster, 30) for _ in range(5)]
        first = cluster.submit_slow(60)
        cluster.wait_encoding(first)
        later = [
            cluster.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": HEAVY_CODEC})[2]["id"]
            for rel in folders
        ]
        # when the worker process dies mid-job
        os.kill(cluster.child_pid(first), signal.SIGKILL)
        # then once its lease has ended and the job is taken back, it starts again before
        # every job that was still waiting at that moment (the worker may have taken one
        # of them meanwhile: it does not wait for the lease)
        wait_until(lambda: len(cluster.starts(first)) >= 2, 60, "the first job to start again")
        runs = cluster.store.runs(first)
        taken_back = next(e["t"] for e in runs if e["ev"] == "end" and e["outcome"] == "worker_lost")
        restarted = cluster.starts(first)[1]["t"]
        waiting = 0
        for job_id in later:
            cluster.wait_state(job_id, "succeeded", timeout=90)
            started = cluster.starts(job_id)[0]["t"]
            if started > taken_back:
                waiting += 1
                assert started > restarted, (job_id, started, restarted)
        assert waiting >= 2  # the case was really exercised
    finally:
        cluster.stack.stop()
        forget_keys(redis.Redis.from_url(TEST_REDIS), prefix)


def test_a_queued_job_whose_message_never_arrived_is_sent_again(cluster):
    # given a job stored as queued whose message was never sent (the web process died
    # between the two)
    rel = input_folder(cluster, 3)
    job_id = new_job_id()
    cluster.store.create_many(
        [
            Job(
                id=job_id,
                state="queued",
                spec=JobSpec.parse({"source": {"dir": rel}}, upload=False, max_pixels=None),
                created_at=time.time(),
                frames_total=3,
            )
        ]
    )
    # then the workers notice an old queued job with no message, and it runs, once
    done = cluster.wait_state(job_id, "succeeded", "failed", timeout=30)
    assert done["state"] == "succeeded"
    assert len(cluster.starts(job_id)) == 1
