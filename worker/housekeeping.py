"""What a worker does besides jobs: say it is alive, and remove expired jobs and files."""

from __future__ import annotations

import logging
import shutil
import threading
import time

import redis

from .runtime import runtime

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3
SWEEP_SECONDS = 60


def sweep() -> int:
    """Remove finished jobs older than the retention, with their files, and upload
    folders that no job owns any more. Returns how many jobs were removed."""
    rt = runtime()
    removed = 0
    for job_id in rt.store.expired(rt.settings.retention_seconds):
        rt.volume.remove_job_files(job_id)
        rt.store.delete(job_id)
        removed += 1
    cutoff = time.time() - rt.settings.retention_seconds
    for parent in (rt.volume.uploads, rt.volume.outputs):
        for d in parent.iterdir() if parent.exists() else ():
            if d.stat().st_mtime < cutoff and not rt.store.r.exists(rt.store.k_job(d.name)):
                shutil.rmtree(d, ignore_errors=True)
    return removed


class Housekeeping(threading.Thread):
    _running: "Housekeeping | None" = None

    def __init__(self, hostname: str) -> None:
        super().__init__(name="img2vid-housekeeping", daemon=True)
        self.hostname = hostname
        self.stopped = threading.Event()

    @classmethod
    def start(cls, hostname: str) -> None:  # type: ignore[override]
        cls._running = cls(hostname)
        threading.Thread.start(cls._running)

    @classmethod
    def stop(cls, hostname: str) -> None:
        if cls._running:
            cls._running.stopped.set()
        try:
            runtime().store.forget_worker(hostname)
        except redis.RedisError:
            pass

    def run(self) -> None:
        store = runtime().store
        last_sweep = 0.0
        while not self.stopped.is_set():
            try:
                store.heartbeat(self.hostname)
                # One worker sweeps at a time; the lock expires by itself.
                if time.time() - last_sweep > SWEEP_SECONDS and store.r.set(f"{store.p}sweep-lock", self.hostname, nx=True, ex=SWEEP_SECONDS):
                    last_sweep = time.time()
                    sweep()
            except redis.RedisError as exc:  # Redis away: try again on the next beat
                log.warning("housekeeping: %s", exc)
            except Exception:
                log.exception("housekeeping failed")
            self.stopped.wait(HEARTBEAT_SECONDS)
