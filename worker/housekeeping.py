"""What a worker does besides jobs: say it is alive, take jobs back from lost workers,
and remove expired jobs and files."""

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

SWEEP_SECONDS = 60


def reap(store: JobStore, max_deaths: int, enqueue) -> dict[str, str]:
    """Take back every running job whose lease has ended (its worker died without a
    word, as SIGKILL or a lost container does) and send it again. Celery alone would
    leave such a message unacknowledged until its visibility timeout, an hour."""
    outcomes = {}
    for job_id in store.running_ids():
        outcome = store.reap(job_id, max_deaths)
        if outcome == "requeued":
            enqueue(job_id)
        if outcome:
            outcomes[job_id] = outcome
            log.warning("job %s lost its worker: %s", job_id, outcome)
    return outcomes


# kombu's Redis transport keeps a queue's messages in one list per priority step:
# the queue's own name (priority 0), then name + "\x06\x16" + step for steps 3, 6, 9.
_PRIORITY_LISTS = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def resend_lost(store: JobStore, queue: str, older_than: float, enqueue) -> list[str]:
    """Send again the jobs queued for longer than ``older_than`` seconds while the broker
    holds no message at all: their message never arrived (the web process died between
    storing the job and sending it). A duplicate, should there be one, does nothing."""
    if any(store.r.llen(queue + suffix) for suffix in _PRIORITY_LISTS):
        return []
    lost = store.r.zrangebyscore(store.k_queue, "-inf", time.time() - older_than)
    for job_id in lost:
        log.warning("job %s was queued with no message; sending it again", job_id)
        enqueue(job_id)
    return lost


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
    """A thread in the worker's main process (not in the pool's children)."""

    _running: "Housekeeping | None" = None

    def __init__(self, hostname: str) -> None:
        super().__init__(name="img2vid-housekeeping", daemon=True)
        self.hostname = hostname
        self.stopped = threading.Event()

    @classmethod
    def launch(cls, hostname: str) -> None:
        # A worker restarted under the same name (a container restart) is not stopping.
        runtime().store.set_draining(hostname, False)
        cls._running = cls(hostname)
        cls._running.start()

    @classmethod
    def draining(cls, hostname: str) -> None:
        """SIGTERM: tell this worker's running jobs to hand themselves back."""
        try:
            runtime().store.set_draining(hostname, True)
        except redis.RedisError as exc:
            log.warning("could not mark %s as stopping: %s", hostname, exc)

    @classmethod
    def shutdown(cls, hostname: str) -> None:
        if cls._running:
            cls._running.stopped.set()
        try:
            store = runtime().store
            store.forget_worker(hostname)
            store.set_draining(hostname, False)
        except redis.RedisError:
            pass

    def run(self) -> None:
        from .tasks import enqueue

        rt = runtime()
        store, beat = rt.store, rt.settings.heartbeat_seconds
        last_sweep = 0.0
        while not self.stopped.is_set():
            try:
                store.heartbeat(self.hostname)
                # One worker at a time reaps and sweeps; the locks expire by themselves.
                if store.r.set(f"{store.p}reap-lock", self.hostname, nx=True, px=max(100, int(beat * 900))):
                    reap(store, rt.settings.max_worker_deaths, enqueue)
                    resend_lost(store, rt.settings.queue, rt.settings.resend_after_seconds, enqueue)
                if time.time() - last_sweep > SWEEP_SECONDS and store.r.set(f"{store.p}sweep-lock", self.hostname, nx=True, ex=SWEEP_SECONDS):
                    last_sweep = time.time()
                    sweep(store, rt.volume, rt.settings.retention_seconds)
            except redis.RedisError as exc:  # Redis away: try again on the next beat
                log.warning("housekeeping: %s", exc)
            except Exception:
                log.exception("housekeeping failed")
            self.stopped.wait(beat)
