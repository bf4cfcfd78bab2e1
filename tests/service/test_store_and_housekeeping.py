"""The job store's promises that a client sees: queue position, ETA, progress rate,
against the real Redis and worker (retention: test_retention.py)."""

from __future__ import annotations

import time
from itertools import pairwise

from img2vid.testing import wait_until

from servicetools import HEAVY_CODEC, heavy_folder, input_folder


def test_progress_is_written_at_least_twice_a_second(service):
    # given a job long enough to watch
    rel = heavy_folder(service)
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": HEAVY_CODEC})
    service.wait_state(job["id"], "running")
    # when its progress is sampled every 20 ms until it is done
    changes, last, seen_running = [], None, True
    while seen_running:
        j = service.get_job(job["id"])
        seen_running = j["state"] == "running"
        done = j["progress"]["frames_done"]
        if done != last:
            changes.append(time.monotonic())
            last = done
        time.sleep(0.02)  # sampling interval, not a wait for a condition
    # then it moved often: never more than half a second without an update
    gaps = [b - a for a, b in pairwise(changes)]
    assert len(changes) >= 3 and max(gaps) <= 0.5, gaps


def test_a_queued_job_shows_its_position_and_an_eta(service):
    # given one job already measured (so a rate is known) and the worker busy with another
    small = input_folder(service, 4)
    _, _, first = service.request("POST", "/api/v1/jobs", {"source": {"dir": small}})
    service.wait_state(first["id"], "succeeded")
    _, _, busy = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": heavy_folder(service)}, "codec": HEAVY_CODEC}
    )
    service.wait_state(busy["id"], "running")
    # when two more are queued behind it
    _, _, a = service.request("POST", "/api/v1/jobs", {"source": {"dir": small}})
    _, _, b = service.request("POST", "/api/v1/jobs", {"source": {"dir": small}})
    ja, jb = service.get_job(a["id"]), service.get_job(b["id"])
    # then each knows its place and roughly when it will be done
    assert (ja["queue_position"], jb["queue_position"]) == (0, 1)
    assert ja["eta_seconds"] is not None and jb["eta_seconds"] >= ja["eta_seconds"] > 0
    running = service.get_job(busy["id"])
    assert running["queue_position"] is None
    wait_until(lambda: service.get_job(busy["id"])["eta_seconds"] is not None, 10, "an ETA for the running job")
    for j in (busy, a, b):
        service.request("POST", f"/api/v1/jobs/{j['id']}/cancel")
    service.wait_state(busy["id"], "cancelled")
