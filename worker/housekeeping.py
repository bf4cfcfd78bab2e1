"""What a worker does besides jobs: say it is alive, take jobs back from lost workers,
send the webhook deliveries that are due (retries, lost messages), and remove expired
jobs and files (retention.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial

import redis

from img2vid import logs
from img2vid.store import JobStore
from img2vid.store.webhooks import send_due
from worker.retention import sweep, sweep_if_due
from worker.runtime import runtime

log = logging.getLogger(__name__)


def reap(store: JobStore, max_deaths: int, send: Callable[[str], None]) -> dict[str, str]:
    """Take back every running job whose lease has ended (its worker died without a
    word, as SIGKILL or a lost container does) and send it again. Celery alone would
    leave such a message unacknowledged until its visibility timeout, an hour."""
    outcomes = {}
    for job_id in store.running_ids():
        outcome, messages = store.reap(job_id, max_deaths)
        for _ in range(messages):  # a split job's segments come back each alone
            send(job_id)
        if outcome:
            outcomes[job_id] = outcome
            logs.event(
                log,
                "job_taken_back",
                f"job {job_id} lost its worker: {outcome}",
                level=logging.WARNING,
                job_id=job_id,
                outcome=outcome,
            )
    return outcomes


def resend_lost(store: JobStore, queue: str, older_than: float, send: Callable[[str], None]) -> list[str]:
    """Send again the jobs whose message never arrived (``store.lost_queued``). A
    duplicate, should there be one, does nothing."""
    lost = store.lost_queued(queue, older_than) + store.idle_splits(queue)
    for job_id in lost:
        logs.event(
            log,
            "job_resent",
            f"job {job_id} was queued with no message; sending it again",
            level=logging.WARNING,
            job_id=job_id,
        )
        send(job_id)
    return lost


class Housekeeping(threading.Thread):
    """A thread in the worker's main process (not in the pool's children)."""

    _running: Housekeeping | None = None

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
        logs.event(
            log, "worker_stopping", f"{hostname} is stopping: its running jobs hand themselves back", worker=hostname
        )
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
        rt = runtime()
        store, s, send = rt.store, rt.settings, rt.tasks.send_retaken
        beat = s.heartbeat_seconds
        # Half the period at most: a sweep must end before its lock does (retention.py).
        sweep_now = partial(sweep, store, rt.storage, s.retention_seconds, s.orphan_seconds, s.sweep_seconds / 2)
        while not self.stopped.is_set():
            try:
                store.heartbeat(self.hostname)
                # One worker at a time reaps and sweeps; the locks expire by themselves.
                if store.try_lock("reap", self.hostname, max(0.1, beat * 0.9)):
                    reap(store, s.max_worker_deaths, send)
                    resend_lost(store, s.queue, s.resend_after_seconds, send)
                    send_due(store, rt.tasks, s.webhook_claim_seconds)
                sweep_if_due(store, self.hostname, s.sweep_seconds, sweep_now)
            except redis.RedisError as exc:  # Redis away: try again on the next beat
                logs.event(log, "housekeeping_redis_error", f"housekeeping: {exc}", level=logging.WARNING)
            except Exception:
                logs.event(log, "housekeeping_failed", "housekeeping failed", level=logging.ERROR, exc_info=True)
            self.stopped.wait(beat)
