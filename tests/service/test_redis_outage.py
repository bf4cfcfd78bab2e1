"""Redis goes away and comes back: clients get a clear 503, then everything resumes.

A private redis-server on a free port, started by the test: the machine's own Redis is
never stopped.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from img2vid.testing import Stack

from servicetools import Service, input_folder


@pytest.fixture
def private_service(tmp_path):
    stack = Stack(data_dir=tmp_path, log_dir=Path("test-artifacts/logs/outage"), env={})
    (tmp_path / "inputs").mkdir()
    try:
        redis_proc, url = stack.start_redis(appendonly=True)
        port = int(re.search(r":(\d+)/", url).group(1))
        stack.env.update(
            {
                "IMG2VID_REDIS_URL": url,
                "IMG2VID_DATA_DIR": str(tmp_path),
                "IMG2VID_KEY_PREFIX": "outage:",
                "IMG2VID_QUEUE": f"outage-{uuid.uuid4().hex[:6]}",
            }
        )
        stack.start_worker("outage-worker")
        _, web = stack.start_web()
        stack.wait_workers(web, 1)
        yield Service(web, tmp_path, stack, None, "outage:"), redis_proc, port
    finally:
        stack.stop()


def test_redis_down_gives_503_then_everything_resumes(private_service):
    service, redis_proc, port = private_service
    rel = input_folder(service, 3)
    # given a job that finished while Redis was up
    _, _, before = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    service.wait_state(before["id"], "succeeded")

    # when Redis stops
    redis_proc.stop()
    # then creating a job is a 503 that says what is wrong, and so is reading one
    status, _, body = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert status == 503 and body["error"]["code"] == "redis_unavailable"
    assert "Redis" in body["error"]["message"]
    assert service.request("GET", f"/api/v1/jobs/{before['id']}")[0] == 503
    assert service.request("GET", "/readyz")[0] == 503
    status, _, body = service.request("GET", "/metrics")
    assert status == 503 and body["error"]["code"] == "redis_unavailable"
    assert service.request("GET", "/healthz")[0] == 200  # the web process itself is alive

    # when Redis comes back on the same port, with its append-only file
    service.stack.start_redis(port, appendonly=True)
    # then the old job is still there, and a new one is taken by the reconnected worker
    assert service.get_job(before["id"])["state"] == "succeeded"
    status, _, after = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert status == 202, after
    assert service.wait_state(after["id"], "succeeded", "failed", timeout=60)["state"] == "succeeded"
