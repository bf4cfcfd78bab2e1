"""Split benchmark: one long 1080p folder job on pinned workers, whole on one core and
split across two.

Three private systems run side by side, each with its own Redis (a free port), its own
key prefix and queue, gunicorn, and its own temporary DATA_DIR with the frames
hard-linked into DATA_DIR/inputs/<dir>/. Every worker is a Celery worker of
concurrency 1 started under ``taskset -c <core>`` (Stack.start_worker(cpus=...)), so
that it and its pool child run on that one core:

- unsplit-1: one worker on core 0, IMG2VID_SPLIT_FRAMES=0 (never split);
- split-2: two workers, one on core 0 and one on core 1, IMG2VID_SPLIT_FRAMES=--split
  (default count // 2: two segments);
- split-4: four workers on the same two cores (two on each), IMG2VID_SPLIT_FRAMES =
  count // 4 (four segments): what splitting finer than the cores costs.

Every worker also gets IMG2VID_DECODE_THREADS=1 (the setting's default, 0, is one
decode thread per core the process may run on, which under taskset is one already; it
is set so that a pinned worker never oversubscribes its core whatever that default
becomes). The encoder's own threads are left as the engine sets them. Redis, gunicorn
and this client are not pinned: they share the two cores with the workers, as they
would on a real two-core host, and do little while a job runs.

Each round times one job per codec on each system in turn (unsplit-1, split-2,
split-4), rounds interleaved so that a noisy neighbour hits all alike; only one system
runs a job at a time, the others sit idle. Per job, through the HTTP API: the wall
time as a client sees it (POST to the GET that first says succeeded, polled every
0.1 s: a client polling faster would take CPU from the split workers that the unsplit
one leaves to its idle core), the job's own time (started_at to finished_at in its
JSON), the segments it was cut into (segments.total in its JSON; "-" for a job that
was not split), the frames in its result, and the join's share of the wall: the
join's run from its start to the job's outcome in the store's run log (Redis's clock),
over the wall time. Figures are
medians of the rounds. The goal: split-2's wall at most 0.60x unsplit-1's, and every
result holding all the frames.

Frames: bench.encode's generated 1920x1080 JPEGs (kept in bench/.frames-*).

It prints one markdown table, PASS/FAIL per codec, and exits non-zero when a goal fails.
Run: make bench-split [ARGS='--count 120 --rounds 1' | ARGS='--codecs mp4v,h264'].
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.encode import generated
from bench.queue import Client
from bench.report import Row, print_table, show_logs
from img2vid.engine.codecs import CODECS
from img2vid.store import JobStore
from img2vid.testing import Proc, Stack

FRAMES_DIR = "bench"
WARM_DIR = "warm"  # a few frames, a job per worker per codec before timing: imports, first encodes
WARM_FRAMES = 5
# The client's own polls cost the cores the split workers share (the unsplit worker
# leaves them a free core): 0.1 s keeps that small; the join is timed from the store.
POLL_SECONDS = 0.1
JOB_TIMEOUT = 1800.0
GOAL_RATIO = 0.60
BASELINE = "unsplit-1"
GOAL_CONFIG = "split-2"


@dataclass
class Config:
    name: str
    cores: list[int]  # one worker per entry, pinned to that core
    split_frames: int  # IMG2VID_SPLIT_FRAMES; 0: never split


@dataclass
class Measure:
    wall: float  # POST -> succeeded, as the client sees it
    job: float  # started_at -> finished_at
    segments: int | None  # segments.total; None: not split
    join: float | None  # the join's run, from the store's run log
    frames: int  # in the result


@dataclass
class System:
    config: Config
    stack: Stack
    url: str
    workers: list[Proc]
    runs: dict[str, list[Measure]] = field(default_factory=dict)


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def configs(count: int, split: int, cores: list[int]) -> list[Config]:
    a, b = cores[:2]
    return [
        Config(BASELINE, [a], 0),
        Config(GOAL_CONFIG, [a, b], split),
        Config("split-4", [a, a, b, b], max(1, count // 4)),
    ]


# --- the systems ------------------------------------------------------------------------


def start_system(config: Config, tmp: Path, frames: Path) -> System:
    data = tmp / config.name / "data"
    tag = uuid.uuid4().hex[:8]
    queue = f"img2vid-bench-{tag}"  # outside the key prefix, as Settings wants
    stack = Stack(
        data_dir=data,
        log_dir=tmp / config.name / "logs",
        env={
            "IMG2VID_DATA_DIR": str(data),
            "IMG2VID_KEY_PREFIX": f"img2vid-bench-{tag}:",
            "IMG2VID_QUEUE": queue,
            "IMG2VID_SPLIT_FRAMES": str(config.split_frames),
            "IMG2VID_DECODE_THREADS": "1",
            "IMG2VID_RATE_LIMIT": "10000000 per minute",
            "IMG2VID_RATE_LIMIT_CREATE": "10000000 per minute",
        },
    )
    try:
        link_frames(data / "inputs", frames)
        _, redis_url = stack.start_redis()
        stack.env["IMG2VID_REDIS_URL"] = redis_url
        workers = []
        for i, core in enumerate(config.cores, 1):
            name = f"worker{i}"
            workers.append(stack.start_worker(name, cpus=str(core)))
        _, url = stack.start_web()
        stack.wait_workers(url, len(workers))
    except BaseException:
        stack.stop()
        raise
    return System(config, stack, url, workers)


def link_frames(inputs: Path, frames: Path) -> None:
    """Hard links (a copy across file systems) into inputs/<dir>/, and the warm-up folder."""
    names = sorted(frames.glob("*.jpg"))
    for folder, files in ((FRAMES_DIR, names), (WARM_DIR, names[:WARM_FRAMES])):
        (inputs / folder).mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                os.link(f, inputs / folder / f.name)
            except OSError:
                shutil.copyfile(f, inputs / folder / f.name)


# --- jobs -------------------------------------------------------------------------------


def _check(system: System, codec: str, job: dict, start: float) -> None:
    if job["state"] in ("failed", "cancelled"):
        raise RuntimeError(f"{system.config.name} {codec} job {job['id']} {job['state']}: {job.get('error')}")
    if time.perf_counter() - start > JOB_TIMEOUT:
        raise TimeoutError(f"{system.config.name} {codec} job {job['id']} still {job['state']} after {JOB_TIMEOUT:g} s")


def _delete(client: Client, path: str) -> None:
    # Its files go, outside the timing, so that every round starts from the same store.
    status, payload = client.raw("DELETE", path)
    if status != 204:
        raise RuntimeError(f"DELETE {path} -> {status}: {payload[:200]!r}")


def warm(system: System, codec: str) -> None:
    """One tiny job per worker, posted at once (prefetch 1: each worker takes one)."""
    client = Client(system.url)
    start = time.perf_counter()
    spec = {"source": {"dir": WARM_DIR}, "codec": codec}
    paths = [f"/api/v1/jobs/{client.json('POST', '/api/v1/jobs', spec, expect=202)['id']}" for _ in system.workers]
    for path in paths:
        while (job := client.json("GET", path))["state"] != "succeeded":
            _check(system, codec, job, start)
            time.sleep(POLL_SECONDS)
        _delete(client, path)


def join_seconds(system: System, job_id: str) -> float | None:
    """The join's run, from its start to the job's outcome, in the store's run log
    (Redis's clock): None when the job was not split."""
    store = JobStore.from_url(system.stack.env["IMG2VID_REDIS_URL"], system.stack.env["IMG2VID_KEY_PREFIX"])
    runs = store.runs(job_id)
    began = [e["t"] for e in runs if e["ev"] == "start" and e.get("segment") == "join"]
    ended = [e["t"] for e in runs if e["ev"] == "end" and e.get("outcome") == "succeeded"]
    return ended[-1] - began[-1] if began and ended else None


def run_job(system: System, codec: str) -> Measure:
    client = Client(system.url)
    start = time.perf_counter()
    job = client.json("POST", "/api/v1/jobs", {"source": {"dir": FRAMES_DIR}, "codec": codec}, expect=202)
    path = f"/api/v1/jobs/{job['id']}"
    while job["state"] != "succeeded":
        _check(system, codec, job, start)
        time.sleep(POLL_SECONDS)
        job = client.json("GET", path)
    wall = time.perf_counter() - start
    finished = _seconds(job["finished_at"])
    segs = job.get("segments")
    join = join_seconds(system, job["id"])
    measure = Measure(
        wall=wall,
        job=finished - _seconds(job["started_at"]),
        segments=segs["total"] if segs else None,
        join=join,
        frames=job["result"]["frames"],
    )
    _delete(client, path)
    return measure


# --- the table --------------------------------------------------------------------------


def _segments_text(runs: list[Measure]) -> str:
    seen = sorted({m.segments for m in runs}, key=lambda s: -1 if s is None else s)
    return "/".join("-" if s is None else str(s) for s in seen)


def _join_text(runs: list[Measure]) -> str:
    shares = [100 * m.join / m.wall for m in runs if m.join is not None]
    if not shares:
        return "join -"
    joins = [m.join for m in runs if m.join is not None]
    return f"join {statistics.median(shares):.1f} % of the wall ({statistics.median(joins):.2f} s)"


def rows_for(codec: str, systems: list[System], count: int) -> list[Row]:
    rows = []
    base = statistics.median(m.wall for m in next(s for s in systems if s.config.name == BASELINE).runs[codec])
    for s in systems:
        runs = s.runs[codec]
        wall = statistics.median(m.wall for m in runs)
        job = statistics.median(m.job for m in runs)
        ratio = wall / base
        frames = sorted({m.frames for m in runs})
        all_frames = frames == [count]
        cores = ",".join(map(str, s.config.cores))
        result = (
            f"wall {wall:.2f} s ({count / wall:.1f} frames/s), job {job:.2f} s, {ratio:.2f}x {BASELINE}; "
            f"segments {_segments_text(runs)}; {_join_text(runs)}; "
            f"frames {'/'.join(map(str, frames))}"
        )
        name = (
            f"{s.config.name}, {codec}: {len(s.config.cores)} worker(s) on cores {cores}, "
            f"SPLIT_FRAMES={s.config.split_frames}, {count} frames, median of {len(runs)}"
        )
        if s.config.name == GOAL_CONFIG:
            ok = ratio <= GOAL_RATIO and all_frames
            rows.append(Row(name, result, f"≤ {GOAL_RATIO:.2f}x {BASELINE}, {count} frames", ok))
        else:
            rows.append(Row(name, result, f"{count} frames", all_frames))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1500, help="1920x1080 frames in the job (default 1500)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--split", type=int, default=None, help="IMG2VID_SPLIT_FRAMES for split-2 (default count // 2)")
    p.add_argument(
        "--codecs", default="mp4v", help="comma-separated, e.g. mp4v,h264 (default mp4v); one of: " + ", ".join(CODECS)
    )
    a = p.parse_args()
    codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CODECS]
    if unknown:
        p.error(f"unknown codec(s) {', '.join(unknown)}")
    if a.count < 4 or a.rounds < 1:
        p.error("--count must be 4 or more and --rounds 1 or more")
    split = a.split if a.split is not None else a.count // 2
    if split < 1:
        p.error("--split must be 1 or more")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        p.error(f"needs two cores to pin workers to; this process may run on {len(cores)}")
    if not shutil.which("taskset"):
        p.error("taskset is not on PATH (util-linux)")

    # gunicorn and celery find `web` and `worker` in the working directory.
    os.chdir(Path(__file__).resolve().parent.parent)
    frames = generated(a.count, "pan")
    tmp = Path(tempfile.mkdtemp(prefix="img2vid-bench-split-"))
    systems: list[System] = []
    try:
        for config in configs(a.count, split, cores):
            print(
                f"starting {config.name} (redis, {len(config.cores)} worker(s) pinned to cores "
                f"{','.join(map(str, config.cores))}, gunicorn) in {tmp / config.name} ...",
                file=sys.stderr,
            )
            systems.append(start_system(config, tmp, frames))
        for s in systems:
            for codec in codecs:
                warm(s, codec)
        for r in range(1, a.rounds + 1):
            for codec in codecs:
                for s in systems:
                    m = run_job(s, codec)
                    s.runs.setdefault(codec, []).append(m)
                    segs = "-" if m.segments is None else str(m.segments)
                    join = "-" if m.join is None else f"{m.join:.2f} s ({100 * m.join / m.wall:.1f} %)"
                    print(
                        f"round {r}/{a.rounds} {s.config.name:9} {codec}: wall {m.wall:.2f} s, job {m.job:.2f} s, "
                        f"segments {segs}, join {join}, frames {m.frames}",
                        file=sys.stderr,
                    )
    except BaseException:
        for s in systems:
            show_logs(s.stack.log_dir)
        raise
    finally:
        for s in systems:
            s.stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [row for codec in codecs for row in rows_for(codec, systems, a.count)]
    print_table(
        rows,
        f"machine: {os.cpu_count()} cores, workers pinned to cores {cores[0]} and {cores[1]}; "
        "1920x1080 pan JPEGs; one job at a time",
    )
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
