"""GET /metrics against the real worker, Redis and both gunicorn processes: the numbers
move by exactly the jobs run, and every process tells the same story."""

from __future__ import annotations

import socket
import time
import uuid
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from img2vid.job import Job, JobSpec, Result
from img2vid.storage import LocalStorage
from img2vid.store import JobStore, new_job_id
from img2vid.store.testing import forget_everything
from img2vid.testing import wait_until
from worker.retention import sweep

from servicetools import HEAVY_CODEC, heavy_folder, input_folder

Samples = dict[tuple[str, tuple], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(service) -> Samples:
    status, headers, body = service.request("GET", "/metrics")
    assert status == 200, body
    return parse(body.decode())


def idle_scrape(service) -> Samples:
    """A scrape taken when no job is queued or running and no message waits (earlier
    tests' jobs included), so that differences count this test's jobs alone."""

    def idle():
        s = scrape(service)
        busy = s[key("img2vid_jobs", state="queued")] + s[key("img2vid_jobs", state="running")]
        return busy == 0 and s[key("img2vid_broker_messages")] == 0 and s

    return wait_until(idle, 60, "no job queued or running")


def moved(before: Samples, after: Samples) -> dict[tuple[str, tuple], float]:
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


def key(name: str, **labels) -> tuple[str, tuple]:
    return name, tuple(sorted(labels.items()))


STARTED, SUBMITTED = key("img2vid_jobs_started_total"), key("img2vid_jobs_submitted_total")
DURATION_COUNT, DURATION_SUM = key("img2vid_encode_duration_seconds_count"), key("img2vid_encode_duration_seconds_sum")
FPS_COUNT, FPS_SUM = key("img2vid_encode_frames_per_second_count"), key("img2vid_encode_frames_per_second_sum")


def finished(state: str):
    return key("img2vid_jobs_finished_total", state=state)


def test_a_succeeded_job_counts_once_and_lands_in_its_histogram_buckets(service):
    # given an idle service
    before = idle_scrape(service)
    # when one job of 10 frames succeeds
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 10)}})
    done = service.wait_state(job["id"], "succeeded", "failed")
    assert done["state"] == "succeeded", done["error"]
    after = idle_scrape(service)
    delta = moved(before, after)
    # then submitted, started and succeeded rose by one, and nothing failed or was cancelled
    assert (delta[SUBMITTED], delta[STARTED], delta[finished("succeeded")]) == (1, 1, 1)
    assert finished("failed") not in delta and finished("cancelled") not in delta
    # and each histogram holds one more observation, in the bucket its value belongs to
    assert (delta[DURATION_COUNT], delta[FPS_COUNT]) == (1, 1)
    seconds, fps = delta[DURATION_SUM], delta[FPS_SUM]
    run_wall = _iso_seconds(done["finished_at"]) - _iso_seconds(done["started_at"])
    assert 0 < seconds <= run_wall + 0.01
    assert abs(fps * seconds - 10) < 0.01  # frames/s is the job's 10 frames over its encode time
    for name, value in (("img2vid_encode_duration_seconds", seconds), ("img2vid_encode_frames_per_second", fps)):
        _assert_one_observation_in_place(before, after, name, value)


def _assert_one_observation_in_place(before: Samples, after: Samples, name: str, value: float) -> None:
    bounds = sorted((float(dict(labels)["le"]), labels) for (n, labels) in after if n == f"{name}_bucket")
    rises = [after[(f"{name}_bucket", labels)] - before[(f"{name}_bucket", labels)] for _, labels in bounds]
    first = rises.index(1)
    assert all(r == 0 for r in rises[:first]) and all(r == 1 for r in rises[first:]), rises
    assert value <= bounds[first][0] and (first == 0 or value > bounds[first - 1][0]), (value, bounds[first][0])


def _iso_seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_failed_job_counts_as_failed_and_is_not_timed(service):
    # given a folder with a corrupt frame
    rel = input_folder(service, 3, ext=".jpg")
    (service.inputs / rel / "frame_1.jpg").write_bytes(b"broken")
    before = idle_scrape(service)
    # when its job runs
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert service.wait_state(job["id"], "succeeded", "failed")["state"] == "failed"
    after = idle_scrape(service)
    # then it counts as started and failed, and the encode histograms did not move
    assert moved(before, after) == {
        SUBMITTED: 1,
        STARTED: 1,
        finished("failed"): 1,
        key("img2vid_jobs", state="failed"): 1,
    }


def test_queued_jobs_show_while_the_worker_is_busy_and_cancelled_ones_count(service):
    before = idle_scrape(service)
    # given the only worker busy with a long job, and a second job queued behind it
    _, _, busy = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": heavy_folder(service)}, "codec": HEAVY_CODEC}
    )
    service.wait_state(busy["id"], "running")
    _, _, queued = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 3)}})
    # when scraped
    during = scrape(service)
    # then one job runs, one waits (in the store and as a message the busy worker has not taken)
    assert during[key("img2vid_jobs", state="running")] == 1
    assert during[key("img2vid_jobs", state="queued")] == 1 and during[key("img2vid_queue_depth")] == 1
    assert during[key("img2vid_broker_messages")] == 1
    assert during[STARTED] - before[STARTED] == 1
    # when both are cancelled
    for job in (queued, busy):
        assert service.request("POST", f"/api/v1/jobs/{job['id']}/cancel")[0] == 202
    service.wait_state(busy["id"], "cancelled")
    after = idle_scrape(service)
    # then two jobs were cancelled, one of which had started; nothing succeeded or failed
    assert moved(before, after) == {
        SUBMITTED: 2,
        STARTED: 1,
        finished("cancelled"): 2,
        key("img2vid_jobs", state="cancelled"): 2,
    }


def test_the_scrape_is_valid_exposition_with_help_and_the_right_content_type(service):
    # when scraped with no Accept header, as curl does
    status, headers, body = service.request("GET", "/metrics")
    # then it is Prometheus text in the classic version, every family with its HELP
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {
        "img2vid_jobs_started",
        "img2vid_jobs_finished",
        "img2vid_jobs_submitted",
        "img2vid_jobs_requeued",
        "img2vid_encode_duration_seconds",
        "img2vid_encode_frames_per_second",
        "img2vid_jobs",
        "img2vid_queue_depth",
        "img2vid_broker_messages",
        "img2vid_workers",
    } <= set(families)
    assert all(f.name.startswith("img2vid_") and f.documentation for f in families.values())
    assert (
        families["img2vid_jobs_finished"].type == "counter"
        and families["img2vid_encode_duration_seconds"].type == "histogram"
    )
    assert b"\nimg2vid_jobs_started_total " in body  # counters end in _total on the wire
    assert families["img2vid_workers"].samples[0].value >= 1
    # when Prometheus 3 asks for OpenMetrics first, as it does by default
    accept = (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
    )
    status, headers, body = service.request("GET", "/metrics", headers={"Accept": accept})
    # then it gets OpenMetrics, which its own strict parser accepts
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    assert {"img2vid_jobs_started", "img2vid_workers"} <= {f.name for f in parse_openmetrics(body.decode())}


def test_two_gunicorn_processes_answer_with_the_same_numbers(service):
    # given a job submitted through one of the web processes and finished
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 3)}})
    service.wait_state(job["id"], "succeeded")
    idle_scrape(service)
    # when one process is held by a request that has not finished arriving (gunicorn's sync
    # workers serve one at a time), so that the next scrape must go to the other process
    host, port = urlsplit(service.url).hostname, urlsplit(service.url).port
    with socket.create_connection((host, port), timeout=10) as held:
        held.sendall(b"GET /metrics HTTP/1.0\r\nHost: test\r\n")
        other = scrape(service)
        held.sendall(b"\r\n")
        first = _read_response(held)
    # then both answered, with the same values
    assert first == other and first[SUBMITTED] >= 1


def _read_response(sock: socket.socket) -> Samples:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0], head
    return parse(body.decode())


def _own_store(service) -> JobStore:
    """A store of its own on the session's Redis, so that the session's worker never sees
    its jobs; the caller removes its keys."""
    kw = service.redis.connection_pool.connection_kwargs
    return JobStore.from_url(f"redis://{kw['host']}:{kw['port']}/{kw['db']}", f"metrics-test-{uuid.uuid4().hex[:8]}:")


def _stored_jobs(store: JobStore, n: int) -> list[str]:
    ids = [new_job_id() for _ in range(n)]
    store.create_many([Job(id=i, state="queued", spec=JobSpec(), created_at=time.time(), upload=True) for i in ids])
    return ids


def test_requeues_are_counted_once_and_a_refused_finish_not_at_all(service):
    store = _own_store(service)
    try:
        # given two stored jobs
        a, b = _stored_jobs(store, 2)
        # when a stopping worker hands one back, and the other's worker vanishes (its lease ends)
        assert store.start(a, "run-a", "w1", 1, 60) and store.hand_back(a, "run-a")
        assert store.start(b, "run-b", "w2", 2, 0.05)
        wait_until(lambda: store.reap(b, max_deaths=3)[0] == "requeued", 5, "the lease to end")
        # and a finish by a run that does not hold the lease is refused
        assert store.start(a, "run-a2", "w1", 1, 60)
        assert not store.finish(a, "failed", token="someone-else")
        snap = store.metrics_snapshot("no-such-queue")
        # then each way back to the queue counted once, every start counted, and nothing finished
        assert snap.requeued == {"handed_back": 1, "worker_lost": 1}
        assert (snap.submitted, snap.started, snap.finished) == (2, 3, {"succeeded": 0, "failed": 0, "cancelled": 0})
    finally:
        forget_everything(store, "no-such-queue")


def test_retention_removes_jobs_but_keeps_the_counters(service, tmp_path):
    store = _own_store(service)
    try:
        # given a job that succeeded in 0.3 s at 40 frames/s
        (a,) = _stored_jobs(store, 1)
        assert store.start(a, "run-a", "w1", 1, 60)
        result = Result(
            video="v.mp4", frames=12, width=64, height=48, fps=5.0, codec="mp4v", bytes=1000, duration_seconds=2.4
        )
        assert store.finish(a, "succeeded", token="run-a", result=result, timing=(0.3, 40.0))
        # when retention removes every finished job
        assert sweep(store, LocalStorage(tmp_path), retention_seconds=-1, orphan_seconds=3600).removed == 1
        # then the job is gone but its counts and observations stay: they are not per job
        snap = store.metrics_snapshot("no-such-queue")
        assert snap.jobs["succeeded"] == 0 and snap.finished["succeeded"] == 1
        h = snap.histograms["encode_duration_seconds"]
        assert (h.count, h.sum, dict(h.buckets)["0.25"], dict(h.buckets)["0.5"]) == (1, 0.3, 0, 1)
        assert dict(snap.histograms["encode_frames_per_second"].buckets)["50.0"] == 1
    finally:
        forget_everything(store, "no-such-queue")
