"""One long job on many workers: split into segments, encoded by two real `celery worker`
processes, joined by packet copy. Each module run has its own system (two workers,
gunicorn, a 2 s lease) with IMG2VID_SPLIT_FRAMES small enough that a test's frames
make several segments.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import uuid
from fractions import Fraction
from pathlib import Path

import av
import psutil
import pytest
import redis
from test_faults import Cluster, start_system

from img2vid.engine import encode
from img2vid.engine.options import EncodeOptions
from img2vid.testing import Stack, wait_until

from servicetools import TEST_REDIS, forget_keys, heavy_folder, pictures_in
from videotools import needs_ffprobe, probe_stream

SPLIT = 20  # frames per segment in these tests


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("split")
    prefix = f"split-{uuid.uuid4().hex[:8]}:"
    stack = Stack(data_dir=tmp, log_dir=Path("test-artifacts/logs/split"), env={"IMG2VID_SPLIT_FRAMES": str(SPLIT)})
    c = start_system(tmp, TEST_REDIS, prefix, workers=2, stack=stack)
    try:
        yield c
    finally:
        c.stack.stop()
        forget_keys(redis.Redis.from_url(TEST_REDIS), prefix)


def submit(cluster: Cluster, rel: str, **spec) -> str:
    status, _, job = cluster.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, **spec})
    assert status == 202, job
    return job["id"]


def frames_folder(cluster: Cluster, n: int, ext: str = ".png") -> str:
    rel = f"split-{uuid.uuid4().hex[:8]}"
    pictures_in(cluster.inputs / rel, n, ext=ext)
    return rel


def segment_runs(cluster: Cluster, job_id: str) -> dict[object, list[tuple[float, float]]]:
    """Each segment's runs as (start, end) from the store's run log; a run not ended is open."""
    runs: dict[object, list[list[float]]] = {}
    tokens: dict[tuple[str, object], list[float]] = {}
    for e in sorted(cluster.store.runs(job_id), key=lambda e: e["t"]):
        if "segment" not in e:
            continue
        if e["ev"] == "start":
            span = [e["t"], float("inf")]
            runs.setdefault(e["segment"], []).append(span)
            tokens[(e["token"], e["segment"])] = span
        elif (e["token"], e["segment"]) in tokens:
            tokens[(e["token"], e["segment"])][1] = e["t"]
    return {k: [tuple(s) for s in v] for k, v in runs.items()}


def frame_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [hashlib.sha1(f.to_ndarray(format="bgr24").tobytes()).hexdigest() for f in c.decode(video=0)]


def video_of(cluster: Cluster, job_id: str, suffix: str) -> Path:
    return cluster.data / "outputs" / job_id / f"{job_id}{suffix}"


def test_a_split_lossless_job_decodes_to_the_same_frames_as_one_unsplit_encode(cluster, tmp_path):
    # given 70 frames, which make four segments of 17-18
    rel = frames_folder(cluster, 70)
    # when they are encoded as one job on two workers
    job = cluster.wait_state(submit(cluster, rel, codec="ffv1", fps=10), "succeeded", "failed", timeout=90)
    # then the job was split, and the video is frame for frame the engine's one-piece encode
    assert job["state"] == "succeeded", job
    assert job["segments"] == {"total": 4, "done": 4}
    assert job["result"]["frames"] == job["progress"]["frames_total"] == 70
    whole = tmp_path / "whole.mkv"
    encode(cluster.inputs / rel, whole, EncodeOptions(codec="ffv1", fps=10))
    assert frame_hashes(video_of(cluster, job["id"], ".mkv")) == frame_hashes(whole)
    # and both workers encoded some, and the segments are gone
    workers = {e["worker"] for e in cluster.store.runs(job["id"]) if e["ev"] == "start" and "worker" in e}
    assert len(workers) == 2, workers
    wait_until(lambda: not (cluster.data / "segments" / job["id"]).exists(), 10, "the segments to be removed")
    assert (cluster.data / "outputs" / job["id"] / "poster.jpg").stat().st_size > 0


@needs_ffprobe
@pytest.mark.parametrize(
    "codec,suffix", [("mp4v", ".mp4"), ("h264", ".mp4"), ("vp8", ".webm"), ("vp9", ".webm"), ("mjpg", ".avi")]
)
def test_a_split_job_plays_on_at_one_frame_per_tick(cluster, codec, suffix):
    # given 50 frames at 25 fps: three segments
    job_id = submit(cluster, frames_folder(cluster, 50, ".jpg"), codec=codec, fps=25)
    job = cluster.wait_state(job_id, "succeeded", "failed", timeout=90)
    assert job["state"] == "succeeded" and job["segments"]["total"] == 3, job
    # then Debian's ffprobe reads 50 frames, lasting 2 s, each 1/25 s after the last
    video = video_of(cluster, job_id, suffix)
    assert int(probe_stream(video, "nb_read_frames")["nb_read_frames"]) == 50
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        times = [Fraction(p.pts) * stream.time_base for p in c.demux(stream) if p.pts is not None]
    times.sort()
    steps = {round(float(b - a), 3) for a, b in zip(times, times[1:], strict=False)}
    assert steps <= {0.04, 0.039, 0.041}, steps  # WebM counts milliseconds
    assert abs(float(times[-1] + Fraction(1, 25)) - 2.0) < 0.002
    assert job["result"]["duration_seconds"] == 2.0


def test_a_bad_frame_in_the_third_segment_fails_the_job_naming_it(cluster):
    # given 60 frames, the 47th (in segment 3) not a picture at all
    rel = frames_folder(cluster, 60)
    bad = sorted((cluster.inputs / rel).iterdir())[46]
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing of a picture")
    job = cluster.wait_state(submit(cluster, rel, codec="mp4v"), "succeeded", "failed", timeout=60)
    # then the job fails, naming that frame, and leaves nothing behind
    assert job["state"] == "failed", job
    assert job["error"]["path"] == bad.name and bad.name in job["error"]["message"], job["error"]
    assert str(cluster.data) not in job["error"]["message"]
    wait_until(lambda: not (cluster.data / "segments" / job["id"]).exists(), 10, "the segments to be removed")
    assert not list((cluster.data / "outputs").glob(f"{job['id']}/*.mp4"))


def running_segments(cluster: Cluster, job_id: str) -> dict[object, int]:
    """Segment -> pid of the runs still open."""
    runs = [e for e in cluster.store.runs(job_id) if "segment" in e]
    open_: dict[tuple, dict] = {}
    for e in sorted(runs, key=lambda e: e["t"]):
        key = (e["token"], e["segment"])
        if e["ev"] == "start":
            open_[key] = e
        else:
            open_.pop(key, None)
    return {e["segment"]: e.get("pid") for e in open_.values()}


def test_a_killed_segment_worker_costs_that_segment_only(cluster):
    # given a heavy job of three segments running on both workers
    job_id = submit(cluster, heavy_folder(cluster, 3 * SPLIT), codec="h264")
    wait_until(lambda: len(running_segments(cluster, job_id)) == 2, 60, "two segments to run")
    wait_until(lambda: cluster.get_job(job_id)["progress"]["frames_done"] > 2, 60, "frames to be encoded")
    # when the process encoding one of them is killed outright
    segment, pid = next((s, p) for s, p in running_segments(cluster, job_id).items() if s != "join")
    os.kill(pid, signal.SIGKILL)
    job = cluster.wait_state(job_id, "succeeded", "failed", timeout=90)
    # then the job succeeds whole, that segment alone ran twice, and no two runs of a segment overlapped
    assert job["state"] == "succeeded", job
    assert job["result"]["frames"] == 3 * SPLIT
    runs = segment_runs(cluster, job_id)
    assert len(runs[segment]) == 2, runs
    assert all(len(r) == 1 for s, r in runs.items() if s != segment), runs
    first, second = runs[segment]
    assert second[0] >= first[1], runs
    assert int(probe_stream(video_of(cluster, job_id, ".mp4"), "nb_read_frames")["nb_read_frames"]) == 3 * SPLIT


def test_cancel_stops_every_segment_within_two_seconds(cluster):
    # given a heavy job whose segments run on both workers
    job_id = submit(cluster, heavy_folder(cluster, 4 * SPLIT), codec="h264")
    wait_until(lambda: len(running_segments(cluster, job_id)) == 2, 60, "two segments to run")
    pids = list(running_segments(cluster, job_id).values())
    # (its progress is the whole job's: both segments' frames summed, with an ETA)
    seen = wait_until(
        lambda: (j := cluster.get_job(job_id))["progress"]["frames_done"] > 2 and j["eta_seconds"] is not None and j,
        30,
        "progress and an ETA",
    )
    assert seen["progress"]["frames_total"] == 4 * SPLIT and seen["segments"] == {"total": 4, "done": 0}
    # when it is cancelled
    status, _, _ = cluster.request("POST", f"/api/v1/jobs/{job_id}/cancel")
    assert status == 202
    asked = time.monotonic()
    job = cluster.wait_state(job_id, "cancelled", "succeeded", "failed", timeout=5)
    assert job["state"] == "cancelled", job
    # then within 2 s neither process encodes any more (its CPU time stands still)
    procs = [psutil.Process(p) for p in pids]
    time.sleep(max(0.0, asked + 2 - time.monotonic()))  # the 2 s, then a look
    before = [sum(p.cpu_times()[:2]) for p in procs]
    time.sleep(0.5)
    after = [sum(p.cpu_times()[:2]) for p in procs]
    assert all(b - a < 0.1 for a, b in zip(before, after, strict=True)), (before, after)
    wait_until(lambda: not (cluster.data / "segments" / job_id).exists(), 10, "the segments to be removed")


def test_a_small_job_behind_a_long_split_one_starts_within_one_segment(cluster):
    # given a ten-segment heavy job running on both workers
    big = submit(cluster, heavy_folder(cluster, 10 * SPLIT), codec="mp4v")
    wait_until(lambda: len(running_segments(cluster, big)) == 2, 60, "two segments to run")
    # when a small job is submitted behind it
    small = submit(cluster, frames_folder(cluster, 5), codec="mp4v")
    submitted = cluster.store.server_time()
    done = cluster.wait_state(small, "succeeded", timeout=60)
    # then it started within one segment's time, while the big job still ran
    runs = segment_runs(cluster, big)
    segment_seconds = max(end - start for spans in runs.values() for start, end in spans if end != float("inf"))
    waited = cluster.store.get(small).started_at - submitted
    assert waited <= segment_seconds + 0.5, (waited, segment_seconds)
    assert done["finished_at"] < cluster.wait_state(big, "succeeded", timeout=90)["finished_at"]


def test_a_join_that_keeps_failing_is_retried_then_fails_the_job_publishing_nothing(cluster):
    # given a three-segment job whose first segment is spoiled once stored (a disk error)
    job_id = submit(cluster, heavy_folder(cluster, 3 * SPLIT), codec="h264")
    wait_until(lambda: cluster.get_job(job_id)["segments"]["done"] >= 1, 60, "a segment to be done")
    segments = cluster.data / "segments" / job_id
    done = next(p for p in sorted(segments.glob("*.mp4")) if not p.name.startswith("."))
    done.write_bytes(b"no longer a video")
    # when the others are done and the join runs
    job = cluster.wait_state(job_id, "succeeded", "failed", timeout=90)
    # then it was tried three times, the job failed saying why, and no video is published
    assert job["state"] == "failed" and job["error"]["code"] == "verify_failed", job
    assert "could not be joined" in job["error"]["message"] and str(cluster.data) not in job["error"]["message"]
    lines = "".join(p.read_text() for p in cluster.stack.log_dir.glob("w*.log")).splitlines()
    assert len([line for line in lines if "join_retried" in line and job_id in line]) == 2
    assert not list((cluster.data / "outputs").glob(f"{job_id}/*.mp4"))
    wait_until(lambda: not segments.exists(), 10, "the segments to be removed")


def test_a_stopping_worker_hands_its_segment_back_and_the_job_succeeds(cluster):
    # given a heavy three-segment job running on both workers
    job_id = submit(cluster, heavy_folder(cluster, 3 * SPLIT), codec="h264")
    wait_until(lambda: len(running_segments(cluster, job_id)) == 2, 60, "two segments to run")
    start = next(
        e
        for e in sorted(cluster.store.runs(job_id), key=lambda e: e["t"])
        if e["ev"] == "start"
        and e.get("segment") not in (None, "join")
        and e["segment"] in running_segments(cluster, job_id)
    )
    proc = next(p for p in cluster.stack.procs if p.name == start["worker"].split("@")[0] and p.alive)
    # when that worker is asked to stop, as docker stop does (SIGTERM to its main process only)
    os.kill(proc.popen.pid, signal.SIGTERM)
    proc.popen.wait(timeout=10)
    cluster.stack.start_worker(proc.name)  # (and back, for the tests after this one)
    job = cluster.wait_state(job_id, "succeeded", "failed", timeout=90)
    # then its segment was handed back and run again, and the job is whole
    assert job["state"] == "succeeded", job
    ends = [e for e in cluster.store.runs(job_id) if e["ev"] == "end" and e.get("segment") == start["segment"]]
    assert "handed_back" in [e["outcome"] for e in ends], ends
    assert len(segment_runs(cluster, job_id)[start["segment"]]) == 2
    assert job["result"]["frames"] == 3 * SPLIT
