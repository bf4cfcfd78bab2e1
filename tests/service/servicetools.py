"""Building requests and inputs for the service tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import httpx
import numpy as np

from img2vid.store import JobStore
from img2vid.store.testing import forget_everything
from img2vid.testing import Stack, wait_until

# The machine's Redis, a database of the tests' own (REDIS_URL_TESTS to change it).
TEST_REDIS = os.environ.get("REDIS_URL_TESTS", "redis://127.0.0.1:6379/13")


@dataclass
class Service:
    url: str
    data: Path
    stack: Stack
    redis: object
    prefix: str
    # Sent as a bearer token with every request, as a client of a closed service does.
    token: str | None = None

    @property
    def inputs(self) -> Path:
        return self.data / "inputs"

    def request(self, method: str, path: str, body=None, headers=None, raw: bytes | None = None):
        """(status, headers, parsed JSON or bytes) for one real HTTP request."""
        data = raw
        hdrs = dict(headers or {})
        if self.token:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, h, payload = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, h, payload = e.code, e.headers, e.read()
        if h.get("Content-Type", "").startswith("application/json"):
            return status, h, strict_json(payload)
        return status, h, payload

    def events(self, path: str, last_event_id: str | None = None, timeout: float = 30):
        """The events of the stream at ``path`` as (id, type, data as JSON), read as they
        come until the server ends the stream or the caller stops iterating; comment
        lines (heartbeats) as (None, ":", their text)."""
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        with httpx.stream("GET", self.url + path, headers=headers, timeout=timeout) as r:
            if r.status_code == 204:  # a follower that has seen the end
                return
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.read()
            event: dict = {}
            for line in r.iter_lines():
                if line.startswith(":"):
                    yield None, ":", line[1:].strip()
                elif line == "":
                    if "data" in event:
                        yield event.get("id"), event.get("event", "message"), strict_json(event["data"])
                    event = {}
                else:
                    name, _, value = line.partition(":")
                    event[name] = value[1:] if value.startswith(" ") else value

    def as_(self, token: str | None) -> Service:
        """The same service as a client holding ``token`` sees it."""
        return replace(self, token=token)

    def get_job(self, job_id: str) -> dict:
        status, _, job = self.request("GET", f"/api/v1/jobs/{job_id}")
        assert status == 200, job
        return job

    def wait_state(self, job_id: str, *states: str, timeout: float = 60) -> dict:
        return wait_until(
            lambda: (j := self.get_job(job_id))["state"] in states and j, timeout, f"job {job_id} to reach {states}"
        )


def _not_json(constant: str):
    raise AssertionError(f"the server sent {constant}, which is not JSON (every answer must be strict JSON)")


def strict_json(payload: bytes | str):
    """Parse an answer as a strict JSON parser would: NaN and Infinity fail the test."""
    return json.loads(payload, parse_constant=_not_json)


def img2vid(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    """Run the command line as a user does: a process of its own, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "img2vid", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def one_error_line(run: subprocess.CompletedProcess, code: str, status: int = 1) -> str:
    """The one line a failed command printed; asserts its exit status (1 a failure; 2 a
    refusal of the caller's request) and the code the line ends with."""
    assert run.returncode == status, (run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("img2vid: error: ") and lines[0].endswith(f"[{code}]"), lines[0]
    return lines[0]


def forget_keys(client, prefix: str) -> None:
    """Remove what a test system wrote to Redis: the store's keys and its Celery queues'
    (``q-<prefix>…``)."""
    forget_everything(JobStore(client, prefix), f"q-{prefix}")


def frames_in(folder: Path, n: int, size=(64, 48), ext=".png", name="frame_{i}") -> Path:
    """n frames whose brightness is 10 x their number, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((size[1], size[0], 3), min(255, i * 10), np.uint8)
        assert cv2.imwrite(str(folder / (name.format(i=i) + ext)), img)
    return folder


def picture(i: int, size=(320, 240)) -> np.ndarray:
    """A frame a person can see: a colour gradient, a ball that moves, the frame number."""
    w, h = size
    x = np.linspace(0, 1, w, dtype=np.float32)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = (80 + 150 * x).astype(np.uint8)
    img[:, :, 1] = (60 + 120 * y).astype(np.uint8)
    img[:, :, 2] = (200 - 120 * x * y).astype(np.uint8)
    cx = int(w * (0.15 + 0.7 * (i % 30) / 29))
    cv2.circle(img, (cx, h // 2), max(4, h // 6), (40, 200, 255), -1)
    cv2.putText(
        img, f"frame {i}", (w // 20, h - h // 12), cv2.FONT_HERSHEY_SIMPLEX, h / 300, (255, 255, 255), max(1, h // 150)
    )
    return img


def pictures_in(folder: Path, n: int, size=(320, 240), ext=".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        assert cv2.imwrite(str(folder / f"shot_{i}{ext}"), picture(i, size))
    return folder


# Frames that take a real encoder real time: textured 1080p, as bench/encode.py uses
# (H.264 runs at about 25 frames/s on two cores). Made once, kept between runs.
HEAVY_CACHE = Path("test-artifacts/.heavy-frames")
HEAVY_CODEC = "h264"


def heavy_frames(n: int = 60) -> list[Path]:
    """``n`` heavy frames from the cache (made the first time)."""
    from bench.framegen import ensure_frames

    ensure_frames(HEAVY_CACHE, n)
    return [HEAVY_CACHE / f"frame_{i:05d}.jpg" for i in range(n)]


def heavy_folder(service, n: int = 60) -> str:
    """A fresh folder under the input root holding ``n`` heavy frames (hard links into
    the cache); a job on it takes seconds, long enough to watch or to kill mid-way."""
    rel = f"heavy-{uuid.uuid4().hex[:8]}"
    folder = service.inputs / rel
    folder.mkdir(parents=True)
    for frame in heavy_frames(n):
        os.link(frame, folder / frame.name)
    return rel


def input_folder(service, n: int = 10, **kw) -> str:
    """A fresh folder of frames under the input root; returns its source.dir."""
    rel = f"in-{uuid.uuid4().hex[:8]}"
    frames_in(service.inputs / rel, n, **kw)
    return rel


def png_bytes(i: int = 0, size=(64, 48)) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((size[1], size[0], 3), min(255, i * 10), np.uint8))
    assert ok
    return buf.tobytes()


def jpeg_bytes(value: int = 90, size=(32, 24)) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((size[1], size[0], 3), value, np.uint8))
    assert ok
    return buf.tobytes()


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) for a multipart/form-data request; files are (field, name, bytes)."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for field, name, data in files:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload(service, fields: dict[str, str], files: list[tuple[str, str, bytes]], headers=None):
    body, ctype = multipart(fields, files)
    return service.request("POST", "/api/v1/jobs", raw=body, headers={"Content-Type": ctype, **(headers or {})})


def zip_of(members: list[tuple[str, bytes]], *, compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()
