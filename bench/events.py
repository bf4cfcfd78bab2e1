"""Event-stream benchmark: the status GET beside a bare Flask app, with and without 500
open event streams, and how fast one state change reaches all 500.

It starts its own Redis (a free port), the service's gunicorn (no worker: the jobs it
makes stay queued, so each GET computes a queue position) and bench/bare_app.py under
the same gunicorn settings, then runs rounds, interleaved (this machine is shared):

1. wrk -t2 -c32 on the bare app's GET /jobs/<id> (one Redis hash as JSON);
2. the same on the service's GET /api/v1/jobs/<id> of a queued job, with a recent
   encode rate stored (auth, rate limiter, request log, the job model, queue position
   and ETA);
3. 500 followers of GET /api/v1/events connect (bench/sse_clients.py), wrk runs 2 again;
4. jobs are made one by one, and the time from each `queued` event (its id is Redis's
   clock) to its arrival at each follower is recorded.

It prints the medians over the rounds in one table, PASS/FAIL per target, and exits
non-zero when one fails. Run: make bench-events [ARGS='--rounds 3 --duration 10'].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.queue import TINY_DIR, run_wrk
from bench.queue import start_system as start_queue_system
from bench.report import Row, print_table, show_logs
from img2vid.cli.processes import free_port, web_argv
from img2vid.store import JobStore
from img2vid.testing import Stack, wait_until

FOLLOWERS = 500


def start_system(tmp: Path, web_workers: int) -> tuple[Stack, str, str]:
    """bench/queue.py's system with no Celery worker, and the bare app beside it."""
    stack, url = start_queue_system(tmp, web_workers, celery_workers=0)
    try:
        port = free_port()
        bare = web_argv(port, web_workers)
        bare[-1] = "bench.bare_app:app"
        stack._spawn("bare", bare)
        bare_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(bare_url + "/jobs/none").status_code == 404, 20, "the bare app")
    except BaseException:
        stack.stop()
        raise
    return stack, url, bare_url


def wrk(url: str, duration: int) -> tuple[float, float]:
    """(requests/s, p99 ms); a failed request fails the benchmark."""
    rps, p99, non2xx, errors = run_wrk(url, duration)
    if non2xx or errors:
        raise RuntimeError(f"wrk on {url}: {non2xx} non-2xx answers, {errors} socket errors")
    return rps, p99


class Followers:
    """FOLLOWERS open streams of /api/v1/events in a process of their own."""

    def __init__(self, url: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sse_clients", f"{url}/api/v1/events", str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        words = self.proc.stdout.readline().split()  # "open N refused R", once all are open
        self.open, self.refused = int(words[1]), int(words[3])

    def arrivals(self) -> dict[str, list[float]]:
        out, _ = self.proc.communicate("stop\n", timeout=60)
        return json.loads(out)


def fan_out(url: str, followers: Followers, changes: int) -> list[float]:
    """Seconds from each state change (a new job's `queued` event) to each follower."""
    with httpx.Client(base_url=url) as client:
        for _ in range(changes):
            client.post("/api/v1/jobs", json={"source": {"dir": TINY_DIR}}).raise_for_status()
            time.sleep(0.3)  # let each change reach everyone before the next
    time.sleep(1.0)
    delays = []
    for event_id, times in followers.arrivals().items():
        if len(times) != followers.open:
            raise RuntimeError(f"event {event_id} reached {len(times)} of {followers.open} followers")
        made = int(event_id.split("-")[0]) / 1000
        delays += [t - made for t in times]
    return delays


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    p.add_argument(
        "--web-workers", type=int, default=os.cpu_count() * 2 + 1, help="gunicorn workers (default 2 x cores + 1)"
    )
    p.add_argument("--changes", type=int, default=10, help="state changes timed per round (default 10)")
    a = p.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not on PATH: apt-get install wrk")

    os.chdir(Path(__file__).resolve().parent.parent)
    tmp = Path(tempfile.mkdtemp(prefix="img2vid-bench-events-"))
    stack = None
    bare_runs, get_runs, sse_runs, delays, refused = [], [], [], [], 0
    try:
        print(f"starting redis, gunicorn ({a.web_workers} workers) and the bare app in {tmp} ...", file=sys.stderr)
        stack, url, bare_url = start_system(tmp, a.web_workers)
        # A recent encode rate, as a working service has: each GET then makes an ETA too.
        JobStore.from_url(stack.env["IMG2VID_REDIS_URL"], stack.env["IMG2VID_KEY_PREFIX"]).record_rate(120.0)
        job = httpx.post(f"{url}/api/v1/jobs", json={"source": {"dir": TINY_DIR}}).json()
        get_url = f"{url}/api/v1/jobs/{job['id']}"
        for r in range(a.rounds):
            print(f"round {r + 1} of {a.rounds} ...", file=sys.stderr)
            bare_runs.append(wrk(f"{bare_url}/jobs/{job['id']}", a.duration))
            get_runs.append(wrk(get_url, a.duration))
            followers = Followers(url, FOLLOWERS)
            refused += followers.refused
            sse_runs.append(wrk(get_url, a.duration))
            delays += fan_out(url, followers, a.changes)
    except BaseException:
        show_logs(tmp / "logs")
        raise
    finally:
        if stack:
            stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    bare = statistics.median(r for r, _ in bare_runs)
    get = statistics.median(r for r, _ in get_runs)
    sse = statistics.median(r for r, _ in sse_runs)
    get_p99 = statistics.median(p for _, p in get_runs)
    sse_p99 = statistics.median(p for _, p in sse_runs)
    q = statistics.quantiles(delays, n=100)
    rows = [
        Row(
            "bare Flask app, GET one Redis hash (wrk -t2 -c32)",
            f"{bare:,.0f} req/s, p99 {statistics.median(p for _, p in bare_runs):.1f} ms",
        ),
        Row(
            "GET /api/v1/jobs/<id> (queued job)",
            f"{get:,.0f} req/s ({get / bare:.2f}x)",
            "≥ 0.70x bare",
            get / bare >= 0.7,
        ),
        Row("GET /api/v1/jobs/<id>: p99", f"{get_p99:.1f} ms", "≤ 50 ms", get_p99 <= 50),
        Row(
            f"the same with {FOLLOWERS} event streams open",
            f"{sse:,.0f} req/s ({sse / bare:.2f}x)",
            "≥ 0.60x bare",
            sse / bare >= 0.6,
        ),
        Row(f"the same with {FOLLOWERS} event streams open: p99", f"{sse_p99:.1f} ms", "≤ 50 ms", sse_p99 <= 50),
        Row(
            f"a state change reaching all {FOLLOWERS} streams (n={len(delays):,})",
            f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms",
            "p95 ≤ 250 ms",
            q[94] <= 0.25,
        ),
        Row("streams refused while opening (503 too_many_streams, retried)", f"{refused}"),
    ]
    print_table(
        rows,
        f"machine: {os.cpu_count()} cores; gunicorn {a.web_workers} workers (gthread); "
        f"medians of {a.rounds} interleaved rounds",
    )
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
