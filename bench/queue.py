"""Queue benchmark: the job service end to end, through HTTP, on a private system.

It starts its own Redis (a free port), one Celery worker (concurrency 1) and gunicorn,
with a temporary DATA_DIR and its own key prefix and queue, then measures:

1. a tiny job's round trip (POST, then poll GET until succeeded) with one idle worker;
2. how long a 1,000-job POST /api/v1/batch takes, and how fast the worker drains it;
3. GET /api/v1/jobs/<id> throughput through gunicorn at 32 connections (wrk).

The rate limiter is on with budgets the benchmark cannot reach (its cost is measured,
its refusals are not); API_TOKENS is unset.

It prints one markdown table, PASS/FAIL per target, and exits non-zero when a target
fails. Run: make bench-queue [ARGS='--tiny 200 --web-workers 3'].
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

from bench.report import Row, print_table, show_logs
from img2vid.testing import Stack, wait_until

TINY_DIR = "tiny"
TINY_SPEC = {"source": {"dir": TINY_DIR}, "codec": "mp4v"}
WARMUP_JOBS = 5
POLL_SECONDS = 0.002
DRAIN_TIMEOUT = 60.0


# --- HTTP -------------------------------------------------------------------------------


class Client:
    """JSON over one reused HTTPConnection. gunicorn's sync workers answer with
    `Connection: close`; http.client then reconnects on the next request by itself."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def raw(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A kept-alive connection the server had closed; only GETs are safe to resend.
                self.conn.close()
                if method != "GET" or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: object = None, expect: int = 200) -> dict:
        status, payload = self.raw(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} -> {status}: {payload[:300]!r}")
        return json.loads(payload)


# --- the system under test ----------------------------------------------------------------


def write_tiny_frames(folder: Path, count: int = 10) -> None:
    """``count`` 64x48 PNG frames, different enough that the encoder has something to do."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = np.full((48, 64, 3), (i * 20) % 256, dtype=np.uint8)
        cv2.putText(img, str(i), (20, 35), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), img)


def start_system(tmp: Path, web_workers: int, batch: int = 1000, celery_workers: int = 1) -> tuple[Stack, str]:
    """Its own Redis, ``celery_workers`` workers (concurrency 1) and gunicorn, on a data
    folder with the tiny frames (bench/events.py starts none: its jobs stay queued)."""
    data = tmp / "data"
    write_tiny_frames(data / "inputs" / TINY_DIR)
    tag = uuid.uuid4().hex[:8]
    stack = Stack(
        data_dir=data,
        log_dir=tmp / "logs",
        env={
            # The queue is a Redis key too: keep it outside the store's prefix (Settings refuses it inside).
            "IMG2VID_DATA_DIR": str(data),
            "IMG2VID_KEY_PREFIX": f"img2vid-bench-{tag}:",
            "IMG2VID_QUEUE": f"img2vid-bench-{tag}",
            "IMG2VID_MAX_BATCH": str(max(batch, 1000)),
            # The rate limiter stays on, so its cost (one Redis round trip per request) is in
            # every figure, but with budgets this one client never reaches: the defaults
            # (50 requests/s, 60 jobs/min per client) would refuse the benchmark's own load.
            "IMG2VID_RATE_LIMIT": "10000000 per minute",
            "IMG2VID_RATE_LIMIT_CREATE": "10000000 per minute",
        },
    )
    try:
        _, redis_url = stack.start_redis()
        stack.env["IMG2VID_REDIS_URL"] = redis_url  # the worker and web read it from their environment
        for i in range(celery_workers):
            stack.start_worker(f"worker{i + 1}", concurrency=1)
        _, url = stack.start_web(workers=web_workers)
        if celery_workers:
            stack.wait_workers(url, celery_workers)
    except BaseException:
        stack.stop()
        raise
    return stack, url


# --- 1. tiny job round trip --------------------------------------------------------------


def round_trip(client: Client, timeout: float = 30.0) -> tuple[float, str]:
    """Seconds from sending POST /jobs to the GET that first shows `succeeded`."""
    start = time.perf_counter()
    job = client.json("POST", "/api/v1/jobs", TINY_SPEC, expect=202)
    path = f"/api/v1/jobs/{job['id']}"
    while job["state"] != "succeeded":
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"tiny job {job['id']} {job['state']}: {job.get('error')}")
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"tiny job {job['id']} still {job['state']} after {timeout:g} s")
        time.sleep(POLL_SECONDS)
        job = client.json("GET", path)
    return time.perf_counter() - start, job["id"]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value at or above q of the samples."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def measure_tiny(client: Client, n: int) -> tuple[list[Row], str]:
    for _ in range(WARMUP_JOBS):  # first jobs pay for imports, codec setup, connections
        round_trip(client)
    latencies, job_id = [], ""
    for _ in range(n):
        seconds, job_id = round_trip(client)
        latencies.append(seconds * 1000)
    lat = sorted(latencies)
    p50, p95 = percentile(lat, 0.50), percentile(lat, 0.95)
    rows = [
        Row(f"tiny job round trip p50 (n={n})", f"{p50:.1f} ms", "≤ 50 ms", p50 <= 50),
        Row(f"tiny job round trip p95 (n={n})", f"{p95:.1f} ms", "≤ 100 ms", p95 <= 100),
        Row(f"tiny job round trip max (n={n})", f"{lat[-1]:.1f} ms"),
    ]
    return rows, job_id  # a succeeded job for the GET benchmark


# --- 2. batch --------------------------------------------------------------------------------


def queue_empty(client: Client) -> bool:
    return all(not client.json("GET", f"/api/v1/jobs?state={s}&limit=1")["jobs"] for s in ("queued", "running"))


def measure_batch(client: Client, n: int) -> list[Row]:
    start = time.perf_counter()
    status, payload = client.raw("POST", "/api/v1/batch", {"jobs": [TINY_SPEC] * n})
    took = time.perf_counter() - start  # the response is read; parsing it is the client's cost
    body = json.loads(payload)
    accepted = body.get("accepted") if status == 202 else None
    ok = accepted == n and took <= 1.0
    rows = [Row(f"POST /batch of {n} jobs", f"{took * 1000:.0f} ms, accepted {accepted}", f"≤ 1 s, accepted {n}", ok)]

    # Let the worker drain the batch so that it does not compete with the GET benchmark.
    try:
        wait_until(lambda: queue_empty(client), DRAIN_TIMEOUT, "the batch to drain", step=0.05)
        drained = time.perf_counter() - start
        rows.append(
            Row(
                f"batch of {n} drained, from POST (1 worker, concurrency 1)",
                f"{drained:.1f} s, {n / drained:.0f} jobs/s",
            )
        )
    except TimeoutError:
        rows.append(Row(f"batch of {n} drained (1 worker, concurrency 1)", f"not empty after {DRAIN_TIMEOUT:g} s"))
    return rows


# --- 3. GET throughput -----------------------------------------------------------------------

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, non-2xx responses, socket errors) from `wrk --latency` output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    # wrk prints these lines only when there were any; either kind means requests failed.
    errors = sum(int(n) for n in sock.groups()) if sock else 0
    return rps, float(value) * UNIT_MS[unit], int(non2xx.group(1)) if non2xx else 0, errors


def run_wrk(url: str, duration: int) -> tuple[float, float, int, int]:
    """`wrk -t2 -c32` on ``url`` for ``duration`` s: parse_wrk's (requests/s, p99 ms,
    non-2xx, socket errors)."""
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    return parse_wrk(out)


def measure_get(url: str, job_id: str, duration: int, web_workers: int) -> list[Row]:
    name = f"GET /jobs/<id>, wrk -t2 -c32, gunicorn {web_workers} workers"
    if not shutil.which("wrk"):
        print("wrk is not on PATH: apt-get install wrk (skipping the GET throughput rows)", file=sys.stderr)
        return [Row(name, "skipped: no wrk")]
    rps, p99, non2xx, errors = run_wrk(f"{url}/api/v1/jobs/{job_id}", duration)
    clean = non2xx == 0 and errors == 0
    note = "" if clean else f" ({non2xx} non-2xx, {errors} socket errors)"
    return [
        Row(f"{name}: throughput", f"{rps:,.0f} req/s{note}", "≥ 2,000 req/s", rps >= 2000 and clean),
        Row(f"{name}: p99 latency", f"{p99:.1f} ms", "≤ 50 ms", p99 <= 50),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", type=int, default=100, help="tiny jobs to time (default 100)")
    p.add_argument("--batch", type=int, default=1000, help="jobs in the batch (default 1000)")
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk (default 10)")
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2)")
    a = p.parse_args()

    # gunicorn and celery find `web`, `worker` and gunicorn.conf.py in the working directory.
    os.chdir(Path(__file__).resolve().parent.parent)
    tmp = Path(tempfile.mkdtemp(prefix="img2vid-bench-queue-"))
    stack = None
    try:
        print(f"starting redis, 1 worker, gunicorn ({a.web_workers} workers) in {tmp} ...", file=sys.stderr)
        stack, url = start_system(tmp, a.web_workers, a.batch)
        client = Client(url)
        print(f"timing {a.tiny} tiny jobs ...", file=sys.stderr)
        rows, job_id = measure_tiny(client, a.tiny)
        print(f"posting a batch of {a.batch} and waiting for it to drain ...", file=sys.stderr)
        rows += measure_batch(client, a.batch)
        print(f"wrk for {a.duration} s ...", file=sys.stderr)
        rows += measure_get(url, job_id, a.duration, a.web_workers)
    except BaseException:
        show_logs(tmp / "logs")
        raise
    finally:
        if stack:
            stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print_table(rows, f"machine: {os.cpu_count()} cores")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
