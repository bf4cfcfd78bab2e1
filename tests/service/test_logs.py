"""Logs of the real web and worker processes: every line JSON, the job's id on its lines,
and no secret nor frame byte anywhere.

A system of its own, so that its log files hold nothing but this test's lines: a private
Redis that wants a password, a known SECRET_KEY and API token.
"""

from __future__ import annotations

import json
import shutil
import struct
import uuid
import zlib
from pathlib import Path

import pytest
import redis

from img2vid.cli.processes import redis_argv
from img2vid.testing import Stack, free_port, wait_until

from servicetools import Service, frames_in, png_bytes, upload

LOGS = Path("test-artifacts/logs/json")
PASSWORD = f"redis-pw-{uuid.uuid4().hex[:12]}"
SECRET_KEY = f"session-key-{uuid.uuid4().hex}"
TOKEN = f"api-token-{uuid.uuid4().hex}"
MARKER = f"frame-bytes-{uuid.uuid4().hex}".encode()


def marked_png(i: int) -> bytes:
    """A real PNG frame that carries MARKER in a text chunk, so its bytes can be looked for."""
    png = png_bytes(i)
    body = b"tEXt" + b"Comment\x00" + MARKER
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return png[:33] + chunk + png[33:]  # after the signature (8) and IHDR (25)


@pytest.fixture
def logged(tmp_path):
    shutil.rmtree(LOGS, ignore_errors=True)
    stack = Stack(data_dir=tmp_path, log_dir=LOGS, env={})
    (tmp_path / "inputs").mkdir()
    try:
        port = free_port()
        (tmp_path / ".redis").mkdir()
        stack._spawn("redis", [*redis_argv(port, tmp_path / ".redis", appendonly=False), "--requirepass", PASSWORD])
        url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
        wait_until(lambda: redis.Redis.from_url(url, socket_connect_timeout=0.2).ping(), 10, "the private redis")
        stack.env.update(
            {
                "IMG2VID_REDIS_URL": url,
                "IMG2VID_DATA_DIR": str(tmp_path),
                "IMG2VID_KEY_PREFIX": "logs:",
                "IMG2VID_QUEUE": "logs-queue",
                "IMG2VID_SECRET_KEY": SECRET_KEY,
                "IMG2VID_API_TOKENS": f"logtest:{TOKEN}",
            }
        )
        stack.start_worker("logworker")
        _, web = stack.start_web()
        stack.wait_workers(web, 1)
        yield Service(web, tmp_path, stack, None, "logs:", token=TOKEN)
    finally:
        stack.stop()


def read_lines(name: str) -> list[dict]:
    """Every line of a process's log, each parsed as JSON (a line that is not fails here)."""
    lines = []
    for n, text in enumerate((LOGS / f"{name}.log").read_text().splitlines(), 1):
        try:
            lines.append(json.loads(text))
        except ValueError:
            pytest.fail(f"{name}.log line {n} is not JSON: {text!r}")
    return lines


def events(lines: list[dict], name: str, job_id: str | None = None) -> list[dict]:
    return [e for e in lines if e.get("event") == name and (job_id is None or e.get("job_id") == job_id)]


def test_a_job_leaves_json_lines_with_its_id_and_no_secret_nor_frame_bytes(logged):
    service = logged
    # given an upload of three frames whose bytes carry a marker, and a server folder
    # whose second frame is truncated (its bytes carry the marker too)
    status, _, good = upload(service, {"fps": "5"}, [("frames", f"f{i}.png", marked_png(i)) for i in range(3)])
    assert status == 202, good
    frames_in(service.inputs / "broken", 3, ext=".png")
    (service.inputs / "broken" / "frame_1.png").write_bytes(marked_png(1)[:60])
    status, _, bad = service.request("POST", "/api/v1/jobs", {"source": {"dir": "broken"}})
    assert status == 202, bad
    # and a request refused for its input, one with a wrong token (401 where API_TOKENS
    # is enforced), and a job deleted
    assert service.request("POST", "/api/v1/jobs", {"source": {"dir": "broken"}, "fps": 0})[0] == 400
    Service.request(service, "GET", "/api/v1/jobs", headers={"Authorization": "Bearer wrong-token-123456"})
    assert service.wait_state(good["id"], "succeeded")["state"] == "succeeded"
    assert service.wait_state(bad["id"], "failed")["error"]["code"] == "unreadable_frame"
    assert service.request("DELETE", f"/api/v1/jobs/{good['id']}")[0] == 204
    wait_until(lambda: events(read_lines("web"), "job_deleted"), 5, "the web's line for the delete")

    # when the web's and the worker's logs are read: then every line is JSON
    web, worker = read_lines("web"), read_lines("logworker")
    for line in web + worker:
        assert {"time", "level", "logger", "message", "service", "host", "pid"} <= line.keys(), line

    # and the worker says when each job started and how it ended, with the job's id
    (started,) = events(worker, "job_started", good["id"])
    assert started["attempt"] == 1 and started["worker"].startswith("logworker@") and started["source"] == "upload"
    (done,) = events(worker, "job_succeeded", good["id"])
    assert done["frames"] == 3 and done["bytes"] > 0 and done["seconds"] >= 0 and done["fps"] > 0
    (failed,) = events(worker, "job_failed", bad["id"])
    assert failed["code"] == "unreadable_frame" and failed["file"] == "frame_1.png"
    # Celery's own lines about the task carry the job's id too
    assert any(e["logger"].startswith("celery") and e.get("job_id") == good["id"] for e in worker)

    # and the web says it created, queued and deleted the job, and logged each request
    (created,) = events(web, "job_created", good["id"])
    assert (created["source"], created["frames"]) == ("upload", 3)
    assert events(web, "job_queued", good["id"]) and events(web, "job_deleted", good["id"])
    (post,) = [e for e in events(web, "request", good["id"]) if e["method"] == "POST"]
    assert (post["path"], post["status"]) == ("/api/v1/jobs", 202) and post["duration_ms"] >= 0
    assert post["client"] == "127.0.0.1"
    (rejected,) = events(web, "request_rejected")[:1]
    assert (rejected["code"], rejected["status"]) == ("bad_fps", 400)
    # and gunicorn's own lines are JSON too
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in web)

    # and no line holds the Redis password, the session key, the API token, or frame bytes
    text = (LOGS / "web.log").read_text() + (LOGS / "logworker.log").read_text()
    for secret in (PASSWORD, SECRET_KEY, TOKEN, "wrong-token-123456", MARKER.decode()):
        assert secret not in text, secret
