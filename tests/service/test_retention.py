"""Retention: the sweep removes what expired (jobs with their files and keys, folders no
job owns) and nothing else, once per period however many workers run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from img2vid.job import ErrorBody, Job, JobSpec
from img2vid.storage import LocalStorage
from img2vid.store import JobStore, new_job_id
from img2vid.store.testing import backdate_finish, forget_everything, keys_holding
from img2vid.testing import Stack, wait_until
from worker.retention import sweep

from servicetools import TEST_REDIS

HOUR, DAY = 3600, 86_400


@pytest.fixture
def store():
    prefix = f"retention-{uuid.uuid4().hex[:8]}:"
    s = JobStore.from_url(TEST_REDIS, prefix)
    yield s
    forget_everything(s, f"q-{prefix}")


def folder(path: Path, age: float = 0) -> Path:
    """A job folder holding a file, last changed ``age`` seconds ago."""
    path.mkdir(parents=True)
    (path / "000000.png").write_bytes(b"frame")
    when = time.time() - age
    os.utime(path, (when, when))
    return path


def job(store: JobStore, volume: LocalStorage, state: str, *, age: float = 0) -> str:
    """A job in ``state`` that got there ``age`` seconds ago, with an upload and an output folder."""
    job_id = new_job_id()
    created = time.time() - age
    store.create_many([Job(id=job_id, state="queued", spec=JobSpec(fps=5), created_at=created, upload=True)])
    if state != "queued":
        assert store.start(job_id, "run", "test-worker", 1, 600)
    if state in ("succeeded", "failed", "cancelled"):
        assert store.finish(
            job_id, state, token="run", error=None if state == "succeeded" else ErrorBody(code="x", message="x")
        )
        # finished ``age`` ago, as Redis's clock counts it
        backdate_finish(store, job_id, age)
    folder(volume.upload_dir(job_id), age)
    folder(volume.output_dir(job_id), age)
    folder(volume.segments / job_id, age)  # as a split job that died left them
    return job_id


def test_one_sweep_removes_exactly_what_expired(store, tmp_path):
    volume = LocalStorage(tmp_path)
    volume.ensure()
    # given finished jobs of each end state past the retention (an hour), and one just finished
    expired = {s: job(store, volume, s, age=2 * HOUR) for s in ("succeeded", "failed", "cancelled")}
    fresh = job(store, volume, "succeeded", age=60)
    # and a queued and a running job, both a month old; the running one is even in the
    # finished index, as a stale entry could be
    old_queued = job(store, volume, "queued", age=30 * DAY)
    old_running = job(store, volume, "running", age=30 * DAY)
    backdate_finish(store, old_running, 30 * DAY)
    # and folders no job owns: an upload never queued, two hours old; one being saved now;
    # an output left behind; plus a stray file, and a month-old folder in the input root
    never_queued = folder(volume.upload_dir(new_job_id()), 2 * HOUR)
    uploading = folder(volume.upload_dir(new_job_id()), 0)
    orphan_output = folder(volume.output_dir(new_job_id()), 2 * HOUR)
    orphan_segments = folder(volume.segments / new_job_id(), 2 * HOUR)
    stray = volume.uploads / "notes.txt"
    stray.write_text("not a job")
    os.utime(stray, (time.time() - 30 * DAY,) * 2)
    inputs = folder(volume.inputs / "shots", 30 * DAY)
    # and another deployment's job in the same Redis, expired by any measure
    other = JobStore.from_url(TEST_REDIS, f"other-{uuid.uuid4().hex[:8]}:")
    elsewhere = job(other, LocalStorage(tmp_path / "elsewhere"), "succeeded", age=30 * DAY)
    try:
        # when one sweep runs with an hour's retention and an hour's grace for orphans
        report = sweep(store, volume, retention_seconds=HOUR, orphan_seconds=HOUR)

        # then the expired jobs are gone: record, run log, index entries, both folders
        assert report.jobs == {"succeeded": 1, "failed": 1, "cancelled": 1} and report.complete
        for job_id in expired.values():
            assert store.get(job_id) is None and keys_holding(store, job_id) == []
            assert not volume.upload_dir(job_id).exists() and not volume.output_dir(job_id).exists()
            assert not (volume.segments / job_id).exists()
        # and so are the folders no job owns that are older than the grace
        assert report.orphans == {"uploads": 1, "outputs": 1, "segments": 1}
        assert not never_queued.exists() and not orphan_output.exists() and not orphan_segments.exists()
        # and everything else is as it was
        assert store.get(fresh).state == "succeeded"
        assert store.get(old_queued).state == "queued" and store.get(old_running).state == "running"
        assert store.runs(old_running) and store.get(old_queued, with_eta=True).queue_position is not None
        for job_id in (fresh, old_queued, old_running):
            assert volume.upload_dir(job_id).is_dir() and volume.output_dir(job_id).is_dir()
        assert uploading.is_dir() and stray.is_file() and (inputs / "000000.png").is_file()
        assert other.get(elsewhere).state == "succeeded" and other.expired(HOUR) == [(elsewhere, "succeeded")]
    finally:
        forget_everything(other, "no-such-queue")


def sweeps_in(log: Path) -> list[float]:
    """When each sweep of a worker's log ended (its 'sweep' lines)."""
    if not log.exists():
        return []
    times = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and (e := json.loads(line)).get("event") == "sweep":
            times.append(datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp())
    return times


def test_two_workers_sweep_once_per_period_and_either_keeps_it_going(store, tmp_path):
    log_dir = Path("test-artifacts/logs/retention")
    shutil.rmtree(log_dir, ignore_errors=True)
    (tmp_path / "inputs").mkdir()
    volume = LocalStorage(tmp_path)
    volume.ensure()
    # given a job that expired a day ago (its files too), before any worker runs
    expired = job(store, volume, "succeeded", age=DAY)
    # when two workers run, each looking every 0.2 s whether a sweep (every second) is due
    period = 1.0
    stack = Stack(
        data_dir=tmp_path,
        log_dir=log_dir,
        env={
            "IMG2VID_REDIS_URL": TEST_REDIS,
            "IMG2VID_DATA_DIR": str(tmp_path),
            "IMG2VID_KEY_PREFIX": store.prefix,
            "IMG2VID_QUEUE": f"q-{store.prefix}",
            "IMG2VID_SWEEP_SECONDS": str(period),
            "IMG2VID_HEARTBEAT_SECONDS": "0.2",
            "IMG2VID_RETENTION_SECONDS": str(HOUR),
        },
    )
    logs = [log_dir / "sweeper1.log", log_dir / "sweeper2.log"]
    try:
        first = stack.start_worker("sweeper1")
        stack.start_worker("sweeper2")
        wait_until(lambda: store.live_workers() == 2, 30, "both workers to beat")
        # then the expired job is swept by whichever got there first
        wait_until(
            lambda: store.get(expired) is None and not volume.output_dir(expired).exists(),
            5,
            "the expired job to be swept",
        )
        # and while both run, sweeps come one per period, never two in one
        start = len(sweeps_in(logs[0]) + sweeps_in(logs[1]))
        wait_until(lambda: len(sweeps_in(logs[0]) + sweeps_in(logs[1])) >= start + 4, 15, "four more sweeps")
        # when one worker dies without a word (SIGKILL), mid-sweep or not
        first.stop(signal.SIGKILL)
        killed_at = time.time()
        # then the other keeps sweeping, once per period
        wait_until(
            lambda: len([t for t in sweeps_in(logs[1]) if t > killed_at]) >= 3, 15, "three sweeps after the kill"
        )
    finally:
        stack.stop()
    times = sorted(sweeps_in(logs[0]) + sweeps_in(logs[1]))
    gaps = [round(b - a, 3) for a, b in pairwise(times)]
    # Never closer than the period (less a little for the time between taking the lock
    # and writing the line); never much later than a period and a beat (slack for a busy
    # machine), except across the kill, where the dead worker may just have taken the lock.
    assert min(gaps) >= 0.9 * period, gaps
    assert sorted(gaps)[-2] <= period + 1.5, gaps
    assert len(times) >= 8
