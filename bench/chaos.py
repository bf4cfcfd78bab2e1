"""Chaos benchmark: workers killed while a batch of real-sized jobs runs.

It starts its own Redis (a free port, append-only file), three Celery workers
(concurrency 1 each) and gunicorn, with a temporary DATA_DIR and its own key prefix and
queue, submits 50 jobs of 60 1920x1080 JPEG frames (mp4v), and then, every 5 s, kills
a random worker, with SIGKILL of its whole process group (`docker kill`) or SIGTERM to
its main process only (`docker stop`; SIGKILL if it is not gone in 30 s), and starts a
new one under a fresh name. The chaos ends after two minutes or when no job is queued
or running; then, with no more kills, it waits until every job has finished.

From the job records and their run logs (every run's start and end, on the Redis
clock) it reports: jobs succeeded / failed / lost, duplicate overlapping runs (a run
that started while another run of the same job was still open), the longest recovery
after a kill (from the kill to the next start of each job the killed worker was
running), total attempts and runs, and whether every video holds all its frames.

It prints one markdown table, PASS/FAIL per target, and exits non-zero when a target
fails. Run: make chaos [ARGS='--seed 7 --duration 60 --jobs 20'].
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

from bench.framegen import ensure_frames  # noqa: E402
from bench.report import Row, print_table, show_logs  # noqa: E402
from img2vid.engine.verify import probe_video  # noqa: E402  (PyAV only, no Celery)
from img2vid.job import FINISHED, Job  # noqa: E402
from img2vid.storage import LocalStorage  # noqa: E402
from img2vid.store import JobStore  # noqa: E402
from img2vid.testing import Proc, Stack  # noqa: E402

FRAMES_DIR = "frames"
CACHED_FRAMES = HERE / ".frames-1920x1080"
SIGNALS = {signal.SIGKILL: "SIGKILL", signal.SIGTERM: "SIGTERM"}
STUCK_SECONDS = 60.0  # in the drain: nothing running, nothing started or finished for this long


@dataclass
class Kill:
    worker: str
    sig: int
    t: float  # Redis clock, just before the signal was sent
    jobs: list[str]  # running on the worker at that moment
    exit_seconds: float | None = None  # SIGTERM: how long the main process took to exit


@dataclass
class Stopping:
    """A worker sent SIGTERM, given ``deadline`` (monotonic) to exit."""

    proc: Proc
    kill: Kill
    sent: float
    deadline: float


@dataclass
class Recovery:
    kill: Kill
    job_id: str
    seconds: float | None  # None: no later start (see note)
    note: str = ""


@dataclass
class Chaos:
    stack: Stack
    store: JobStore
    rng: random.Random
    term_timeout: float
    workers: list[Proc] = field(default_factory=list)
    stopping: list[Stopping] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    next_index: int = 1
    overstayed: list[str] = field(default_factory=list)  # SIGTERM'd workers that needed SIGKILL
    leftovers: list[str] = field(default_factory=list)  # process groups that outlived their main process

    def start_worker(self) -> Proc:
        proc = self.stack.start_worker(f"w{self.next_index}", concurrency=1)
        self.next_index += 1
        self.workers.append(proc)
        return proc

    def redis_now(self) -> float:
        return self.store.server_time()

    def running_on(self, name: str) -> set[str]:
        return {
            j.id
            for j in self.store.get_many(self.store.running_ids())
            if j.state == "running" and (j.worker or "").startswith(name + "@")
        }

    def kill_one(self) -> Kill | None:
        busy = {s.proc.name for s in self.stopping}
        live = [p for p in self.workers if p.alive and p.name not in busy]
        if not live:
            return None
        proc = self.rng.choice(live)
        sig = self.rng.choice(list(SIGNALS))
        before = self.running_on(proc.name)
        t = self.redis_now()
        if sig == signal.SIGKILL:
            proc.stop(signal.SIGKILL)  # the whole group: main process and pool child
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.popen.pid, signal.SIGTERM)  # the main process only, as `docker stop`
        # After a SIGKILL the record still names the dead worker until the reaper comes;
        # after a SIGTERM the job may be handed back at once: take both views.
        after = self.running_on(proc.name)
        kill = Kill(proc.name, sig, t, sorted(before | after))
        self.kills.append(kill)
        if sig == signal.SIGTERM:
            now = time.monotonic()
            self.stopping.append(Stopping(proc, kill, now, now + self.term_timeout))
        self.start_worker()
        return kill

    def tend(self) -> None:
        """Collect SIGTERM'd workers that have exited; SIGKILL those that overstay."""
        for s in list(self.stopping):
            if s.proc.alive and time.monotonic() < s.deadline:
                continue
            if s.proc.alive:
                self.overstayed.append(s.proc.name)
                s.proc.stop(signal.SIGKILL)
            else:
                s.kill.exit_seconds = time.monotonic() - s.sent
            # When a container's main process ends, the rest of it goes too.
            try:
                os.killpg(s.proc.popen.pid, signal.SIGKILL)
                self.leftovers.append(s.proc.name)
            except (ProcessLookupError, PermissionError):
                pass
            self.stopping.remove(s)

    def finish_stopping(self) -> None:
        while self.stopping:
            self.tend()
            time.sleep(0.1)


# --- setup --------------------------------------------------------------------------------


def prepare_frames(folder: Path, count: int) -> str:
    """``count`` real-sized frames: hard links to the cached ones when there are enough."""
    folder.mkdir(parents=True, exist_ok=True)
    cached = sorted(CACHED_FRAMES.glob("frame_*.jpg"))[:count] if CACHED_FRAMES.is_dir() else []
    if len(cached) == count:
        for src in cached:
            try:
                os.link(src, folder / src.name)
            except OSError:
                shutil.copy2(src, folder / src.name)
        return f"linked from {CACHED_FRAMES.name}"
    ensure_frames(folder, count)
    return "generated"


def http_json(method: str, url: str, body: object = None, timeout: float = 30) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def submit(url: str, jobs: int) -> list[str]:
    spec = {"source": {"dir": FRAMES_DIR}, "codec": "mp4v"}
    status, body = http_json("POST", f"{url}/api/v1/batch", {"jobs": [spec] * jobs})
    if status != 202 or body.get("accepted") != jobs:
        raise RuntimeError(f"POST /api/v1/batch -> {status}: {json.dumps(body)[:500]}")
    return [item["id"] for item in body["jobs"]]


# --- analysis -----------------------------------------------------------------------------


def jobs_of(store: JobStore, ids: list[str]) -> dict[str, Job]:
    return {j.id: j for j in store.get_many(ids)}


def all_runs(store: JobStore, ids: list[str]) -> dict[str, list[dict]]:
    return {job_id: store.runs(job_id) for job_id in ids}


def duplicates(runs: list[dict]) -> int:
    """Runs that started while another run of the same job was still open."""
    count, open_runs = 0, set()
    # A start and an end at the same instant: the end first (a hand-back, then a new run).
    for e in sorted(runs, key=lambda e: (e["t"], e["ev"] == "start")):
        if e["ev"] == "start":
            count += bool(open_runs)
            open_runs.add(e["token"])
        else:
            open_runs.discard(e["token"])
    return count


def recoveries(kills: list[Kill], runs: dict[str, list[dict]], jobs: dict[str, Job], now: float) -> list[Recovery]:
    out = []
    for kill in kills:
        for job_id in kill.jobs:
            events = runs.get(job_id, [])
            later = sorted(e["t"] for e in events if e["ev"] == "start" and e["t"] > kill.t)
            if later:
                out.append(Recovery(kill, job_id, later[0] - kill.t))
                continue
            ends = [e for e in events if e["ev"] == "end" and e["t"] >= kill.t]
            state = jobs[job_id].state if job_id in jobs else "?"
            if state in FINISHED:
                outcome = ends[0]["outcome"] if ends else state
                # It completed before (or as) the signal landed: nothing to recover.
                out.append(Recovery(kill, job_id, None, f"finished ({outcome}) without another run"))
            else:
                out.append(Recovery(kill, job_id, now - kill.t, f"never restarted (still {state})"))
    return out


def count_frames(path: Path) -> int:
    try:
        return probe_video(path)[0]
    except Exception:
        return -1


def scan_logs(log_dir: Path) -> dict[str, int]:
    """Tracebacks and ERROR/CRITICAL lines per log file."""
    found = {}
    for log in sorted(log_dir.glob("*.log")):
        text = log.read_text(errors="replace")
        n = text.count("Traceback (most recent call last)") + len(re.findall(r"\b(ERROR|CRITICAL)\b", text))
        if n:
            found[log.name] = n
    return found


# --- report -------------------------------------------------------------------------------


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=50, help="jobs to submit (default 50)")
    p.add_argument("--frames", type=int, default=60, help="1920x1080 frames per job (default 60)")
    p.add_argument("--workers", type=int, default=3, help="workers alive at a time (default 3)")
    p.add_argument("--every", type=float, default=5.0, help="seconds between kills (default 5)")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of chaos at most (default 120)")
    p.add_argument(
        "--drain", type=float, default=180.0, help="seconds to wait for the rest after the chaos (default 180)"
    )
    p.add_argument(
        "--term-timeout", type=float, default=30.0, help="seconds a SIGTERM'd worker gets before SIGKILL (default 30)"
    )
    p.add_argument("--lease", type=float, default=10.0, help="IMG2VID_LEASE_SECONDS (default 10)")
    p.add_argument("--heartbeat", type=float, default=2.0, help="IMG2VID_HEARTBEAT_SECONDS (default 2)")
    p.add_argument("--max-recovery", type=float, default=60.0, help="target for the longest recovery, s (default 60)")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill schedule (default 1)")
    p.add_argument(
        "--log-dir",
        type=Path,
        default=ROOT / "test-artifacts" / "logs" / "chaos",
        help="process logs, emptied first (default test-artifacts/logs/chaos)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR (videos, Redis AOF)")
    a = p.parse_args()

    # gunicorn and celery find `web` and `worker` in the working directory.
    os.chdir(ROOT)
    tmp = Path(tempfile.mkdtemp(prefix="img2vid-chaos-"))
    data = tmp / "data"
    volume = LocalStorage(data)
    log_dir = a.log_dir.resolve()
    shutil.rmtree(log_dir, ignore_errors=True)
    tag = uuid.uuid4().hex[:6]
    stack = Stack(
        data_dir=data,
        log_dir=log_dir,
        env={
            "IMG2VID_DATA_DIR": str(data),
            "IMG2VID_KEY_PREFIX": f"chaos-{tag}:",
            "IMG2VID_QUEUE": f"q-chaos-{tag}",
            "IMG2VID_LEASE_SECONDS": repr(a.lease),
            "IMG2VID_HEARTBEAT_SECONDS": repr(a.heartbeat),
            "IMG2VID_MAX_BATCH": str(max(a.jobs, 1000)),
        },
    )
    rng = random.Random(a.seed)
    chaos: Chaos | None = None
    try:
        how = prepare_frames(volume.inputs / FRAMES_DIR, a.frames)
        say(f"{a.frames} frames of 1920x1080 ({how}); starting redis, {a.workers} workers, gunicorn; logs in {log_dir}")
        _, redis_url = stack.start_redis(appendonly=True)
        stack.env["IMG2VID_REDIS_URL"] = redis_url
        store = JobStore.from_url(redis_url, stack.env["IMG2VID_KEY_PREFIX"])
        chaos = Chaos(stack, store, rng, a.term_timeout)
        for _ in range(a.workers):
            chaos.start_worker()
        _, url = stack.start_web()
        stack.wait_workers(url, a.workers, timeout=60)

        ids = submit(url, a.jobs)
        started = time.monotonic()
        say(
            f"submitted {len(ids)} jobs; killing a worker every {a.every:g} s for up to {a.duration:g} s "
            f"(seed {a.seed})"
        )

        # --- chaos ---
        next_kill = started + a.every
        while time.monotonic() - started < a.duration:
            chaos.tend()
            c = store.counts()
            if c["queued"] == 0 and c["running"] == 0:
                break
            if time.monotonic() >= next_kill:
                kill = chaos.kill_one()
                next_kill += a.every
                if kill:
                    say(
                        f"  {time.monotonic() - started:6.1f} s  {SIGNALS[kill.sig]} {kill.worker} "
                        f"(running {', '.join(kill.jobs) or 'nothing'}); "
                        f"{c['succeeded']} done, {c['queued']} queued, {c['running']} running"
                    )
            time.sleep(0.05)
        chaos_seconds = time.monotonic() - started
        say(f"chaos over after {chaos_seconds:.0f} s and {len(chaos.kills)} kills; draining (up to {a.drain:g} s)")

        # --- drain: no more kills ---
        drain_end = time.monotonic() + a.drain
        last_change, last_seen = time.monotonic(), None
        stuck = False
        while True:
            chaos.tend()
            jobs = jobs_of(store, ids)
            if all(j.finished for j in jobs.values()):
                break
            if time.monotonic() > drain_end:
                break
            seen = (store.counts(), sum(j.attempts for j in jobs.values()))
            if seen != last_seen:
                last_seen, last_change = seen, time.monotonic()
            elif seen[0]["running"] == 0 and time.monotonic() - last_change > STUCK_SECONDS:
                stuck = True
                say(f"nothing ran for {STUCK_SECONDS:g} s with {seen[0]['queued']} jobs queued: giving up")
                break
            time.sleep(0.2)
        wall = time.monotonic() - started
        chaos.finish_stopping()

        # --- analysis ---
        now = chaos.redis_now()
        jobs = jobs_of(store, ids)
        runs = all_runs(store, ids)
        states = {job_id: jobs[job_id].state if job_id in jobs else "unknown" for job_id in ids}
        succeeded = [j for j, s in states.items() if s == "succeeded"]
        failed = [j for j, s in states.items() if s in ("failed", "cancelled")]
        lost = [j for j, s in states.items() if s not in FINISHED]
        fail_codes: dict[str, int] = {}
        for j in failed:
            code = jobs[j].error.code if jobs[j].error else states[j]
            fail_codes[code] = fail_codes.get(code, 0) + 1
        dups = {j: n for j in ids if (n := duplicates(runs[j]))}
        recs = recoveries(chaos.kills, runs, jobs, now)
        measured = [r for r in recs if r.seconds is not None]
        longest = max(measured, key=lambda r: r.seconds, default=None)
        attempts = sum(j.attempts for j in jobs.values())
        runs_started = sum(1 for events in runs.values() for e in events if e["ev"] == "start")
        outcomes: dict[str, int] = {}
        for events in runs.values():
            for e in events:
                if e["ev"] == "end":
                    outcomes[e["outcome"]] = outcomes.get(e["outcome"], 0) + 1
        whole, short = 0, []
        for j in succeeded:
            video = volume.output_file(jobs[j], "video")
            frames = count_frames(video.path) if video else 0
            if frames == a.frames:
                whole += 1
            else:
                short.append(f"{j}: {frames}")
        by_sig = {name: sum(1 for k in chaos.kills if k.sig == sig) for sig, name in SIGNALS.items()}
        hit = sum(1 for k in chaos.kills if k.jobs)
        term_exits = [k.exit_seconds for k in chaos.kills if k.exit_seconds is not None]
        errors = scan_logs(log_dir)
    except BaseException:
        show_logs(log_dir)
        raise
    finally:
        stack.stop()
        if a.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- report ---
    n = len(ids)
    rec_text = "no kill interrupted a job"
    if longest:
        rec_text = (
            f"{longest.seconds:.1f} s ({SIGNALS[longest.kill.sig]} of {longest.kill.worker}"
            f"{', ' + longest.note if longest.note else ''}); median "
            f"{statistics.median(r.seconds for r in measured):.1f} s over {len(measured)}"
        )
    skipped = len(recs) - len(measured)
    kills_text = (
        f"{len(chaos.kills)} ({by_sig['SIGKILL']} SIGKILL / {by_sig['SIGTERM']} SIGTERM); {hit} hit a running job"
    )
    if term_exits:
        kills_text += f"; SIGTERM'd workers exited in ≤ {max(term_exits):.1f} s"
    rows = [
        Row("jobs submitted", f"{n} × {a.frames} frames 1920×1080, mp4v"),
        Row("succeeded", f"{len(succeeded)}", f"{n}", len(succeeded) == n),
        Row(
            "failed",
            f"{len(failed)}"
            + (f" ({', '.join(f'{c}: {k}' for c, k in sorted(fail_codes.items()))})" if failed else ""),
            "0",
            not failed,
        ),
        Row(
            "lost (not finished at the end)", f"{len(lost)}" + (" (stuck: nothing ran)" if stuck else ""), "0", not lost
        ),
        Row("duplicate overlapping runs", f"{sum(dups.values())}", "0", not dups),
        Row("kills", kills_text),
        Row(
            "longest recovery after a kill (kill → next start)",
            rec_text + (f"; {skipped} had just finished" if skipped else ""),
            f"≤ {a.max_recovery:g} s",
            longest is None or longest.seconds <= a.max_recovery,
        ),
        Row("total attempts", f"{attempts} ({attempts / max(n, 1):.2f} per job)"),
        Row("runs started", f"{runs_started}; ends: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
        Row(
            "videos whole",
            f"{whole} of {len(succeeded)} succeeded hold {a.frames} frames",
            f"{len(succeeded)}",
            whole == len(succeeded),
        ),
        Row("wall time", f"{wall:.0f} s from submit to last job finished ({chaos_seconds:.0f} s of chaos)"),
    ]
    print_table(
        rows,
        f"machine: {os.cpu_count()} cores; {a.workers} workers (concurrency 1), lease {a.lease:g} s, "
        f"heartbeat {a.heartbeat:g} s, a kill every {a.every:g} s, seed {a.seed}",
    )

    notes = []
    if dups:
        notes.append(f"duplicate runs: {dups}")
    if lost:
        notes.append(
            "lost jobs: "
            + ", ".join(f"{j} ({states[j]}, attempts {jobs[j].attempts if j in jobs else '?'})" for j in lost)
        )
    if failed:
        notes.append("failed jobs: " + ", ".join(f"{j} ({jobs[j].error})" for j in failed))
    if short:
        notes.append(f"videos not whole: {short}")
    slow = sorted((r for r in measured if r.seconds > a.max_recovery), key=lambda r: -r.seconds)
    if slow:
        notes.append(
            "slow recoveries: "
            + ", ".join(
                f"{r.job_id} {r.seconds:.1f} s after {SIGNALS[r.kill.sig]} "
                f"of {r.kill.worker}{' (' + r.note + ')' if r.note else ''}"
                for r in slow
            )
        )
    if chaos.overstayed:
        notes.append(f"workers that ignored SIGTERM for {a.term_timeout:g} s: {chaos.overstayed}")
    if chaos.leftovers:
        notes.append(f"SIGTERM'd workers whose pool outlived the main process: {chaos.leftovers}")
    if errors:
        notes.append(f"tracebacks/ERROR lines in {log_dir}: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    for note in notes:
        print(f"note: {note}")

    ok = all(r.ok is not False for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
