"""What a worker does besides jobs: say it is alive, and remove expired jobs and files."""

from __future__ import annotations

import logging
import shutil
import threading
import time

import redis

from img2vid.jobstore import JobStore
from img2vid.volume import Volume

from .runtime import runtime

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 3
SWEEP_SECONDS = 60


def sweep(store: JobStore, volume: Volume, retention_seconds: int) -> int:
    """Remove finished jobs older than the retention, with their files, and job folders
    that no record owns any more (a web process that died mid-upload). Returns how many
    jobs were removed."""
    removed = 0
    for job_id in store.expired(retention_seconds):
        volume.remove_job_files(job_id)
        store.delete(job_id)
        removed += 1
    cutoff = time.time() - retention_seconds
    for parent in (volume.uploads, volume.outputs):
        for d in parent.iterdir() if parent.exists() else ():
            if d.stat().st_mtime < cutoff and not store.exists(d.name):
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
                    rt = runtime()
                    sweep(rt.store, rt.volume, rt.settings.retention_seconds)
            except redis.RedisError as exc:  # Redis away: try again on the next beat
                log.warning("housekeeping: %s", exc)
            except Exception:
                log.exception("housekeeping failed")
            self.stopped.wait(HEARTBEAT_SECONDS)
