"""Job events as Server-Sent Events, through gunicorn's gevent workers, from the job
store's own state changes: one job's stream, every job's, reconnecting with
Last-Event-ID, heartbeats."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from servicetools import heavy_folder, input_folder

FINISHED = {"succeeded", "failed", "cancelled"}


def submit(service, rel: str, **spec) -> dict:
    status, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, **spec})
    assert status == 202, job
    return job


def order(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


def test_a_jobs_stream_tells_each_change_and_ends_with_its_outcome(service):
    # given a queued job
    job = submit(service, input_folder(service, 12), codec="mjpg")
    # when its stream is followed to its end
    events = [e for e in service.events(f"/api/v1/jobs/{job['id']}/events") if e[1] != ":"]
    # then it starts with the job as it was, goes through started, and ends with the outcome
    types = [t for _, t, _ in events]
    assert types[0] in ("queued", "progress", "succeeded"), types
    assert types[-1] == "succeeded" and types.count("succeeded") == 1, types
    assert "started" in types or types[0] != "queued", types
    # each event carries the job's JSON as GET has it, ids in the stream's order
    assert all(data["id"] == job["id"] for _, _, data in events)
    assert events[-1][2] == service.get_job(job["id"])
    ids = [order(i) for i, _, _ in events]
    assert ids == sorted(ids)


def test_a_follower_that_reconnects_with_last_event_id_misses_nothing(service):
    # given a job's stream read only to its first event, then dropped
    job = submit(service, input_folder(service, 8), codec="mjpg")
    first_id, first_type, _ = next(e for e in service.events(f"/api/v1/jobs/{job['id']}/events") if e[1] != ":")
    service.wait_state(job["id"], "succeeded")
    # when it reconnects with the last id it saw, after the job has finished
    again = [e for e in service.events(f"/api/v1/jobs/{job['id']}/events", last_event_id=first_id) if e[1] != ":"]
    # then it gets every event after that one, the outcome last
    types = [t for _, t, _ in again]
    if first_type == "succeeded":  # it had seen the end
        assert types == []
    else:
        assert types[-1] == "succeeded", types
    if first_type == "queued":
        assert "started" in types, types
    assert all(order(i) > order(first_id) for i, _, _ in again)


def test_a_follower_that_saw_the_outcome_is_told_to_stop(service):
    # given a finished job whose outcome event a follower saw
    job = submit(service, input_folder(service, 3), codec="mjpg")
    service.wait_state(job["id"], "succeeded")
    last_id, kind, _ = next(e for e in service.events(f"/api/v1/jobs/{job['id']}/events") if e[1] != ":")
    assert kind == "succeeded"
    # when it reconnects with that id, as an EventSource does when a stream ends
    status, _, body = service.request("GET", f"/api/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": last_id})
    # then 204: the one answer after which an EventSource does not reconnect
    assert (status, body) == (204, b"")


def test_progress_comes_at_most_every_half_second(service):
    # given a job long enough to report progress many times
    job = submit(service, heavy_folder(service, 40), codec="mjpg", size="640x360")
    events = [e for e in service.events(f"/api/v1/jobs/{job['id']}/events", timeout=60) if e[1] == "progress"]
    # then its progress events are half a second apart or more (by Redis's clock: the ids)
    stamps = [order(i)[0] for i, _, _ in events]
    assert all(b - a >= 490 for a, b in itertools.pairwise(stamps[1:])), stamps
    frames = [d["progress"]["frames_done"] for _, _, d in events]
    assert frames == sorted(frames)


def test_a_quiet_stream_beats(service):
    # given a job that stays queued (cancelled would end it; a job of a missing folder fails):
    # the all-jobs stream, which never ends by itself, stays quiet when nothing happens
    beats = 0
    for _, kind, _ in service.events("/api/v1/events"):
        beats += kind == ":"
        if beats == 2:
            break
    assert beats == 2  # IMG2VID_EVENTS_HEARTBEAT_SECONDS is 0.5 s in these tests


def test_the_all_jobs_stream_tells_every_jobs_changes(service):
    # given a follower of every job
    wanted: set[tuple[str, str]] = set()
    listening_now = threading.Event()
    with ThreadPoolExecutor(1) as pool:

        def follow() -> set[tuple[str, str]]:
            seen = set()
            for _, kind, data in service.events("/api/v1/events"):
                listening_now.set()  # its first beat: the stream is open
                if kind != ":":
                    seen.add((data["id"], kind))
                if wanted and wanted <= seen:
                    break
            return seen

        listening = pool.submit(follow)
        # when two jobs are made after it listens
        assert listening_now.wait(10)
        a = submit(service, input_folder(service, 4), codec="mjpg")["id"]
        b = submit(service, input_folder(service, 400))["id"]
        service.request("POST", f"/api/v1/jobs/{b}/cancel")
        wanted |= {(a, "queued"), (a, "succeeded"), (b, "queued"), (b, "cancelled")}
        # then it sees both, each from its queueing to its outcome
        assert wanted <= listening.result(timeout=60)


def test_an_unknown_jobs_stream_is_a_404(service):
    status, _, body = service.request("GET", "/api/v1/jobs/0123456789abcdef00/events")
    assert (status, body["error"]["code"]) == (404, "job_not_found")


def test_a_stopping_web_process_ends_its_streams_at_once(service):
    # given a web process of its own with one open stream
    proc, url = service.stack.start_web(workers=1, name="web-events-stop")
    with httpx.stream("GET", f"{url}/api/v1/events", timeout=10) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        # when it is stopped as docker stop does (SIGTERM)
        started = time.monotonic()
        os.kill(proc.popen.pid, signal.SIGTERM)
        # then the stream ends, and the process exits, in seconds (not gunicorn's 30 s
        # graceful wait for open requests)
        assert all(line.startswith(":") or not line for line in lines)
        proc.popen.wait(10)
    assert time.monotonic() - started < 5
