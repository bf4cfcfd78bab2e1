"""One run of one job: holding its lease, and knowing when to stop.

A thread renews the lease every lease/5 seconds. The encode loop asks ``should_stop``
about ten times a second; the answer is a reason, or None:

- ``cancel``: a client cancelled the job;
- ``hand_back``: this worker is shutting down (SIGTERM) and gives the job back;
- ``time_limit``: the run has gone on longer than its time limit;
- ``lease_lost``: the lease is no longer ours, or has not been renewed for half its
  length (Redis unreachable, or this process was frozen). The run stops before the
  lease can end, so the reaper never gives the job to a second worker while this one
  still writes; or the job has an outcome already (another segment of a split job
  failed, or the job was cancelled while this segment waited).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from img2vid.store import JobStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class Run:
    def __init__(
        self, store: JobStore, job_id: str, worker: str, lease_seconds: float, time_limit: float = float("inf")
    ) -> None:
        self.store, self.job_id, self.worker, self.lease = store, job_id, worker, lease_seconds
        self.time_limit = time_limit
        self._deadline = float("inf")
        self.token = secrets.token_hex(8)
        self.reason: str | None = None
        # The lease it holds: "" the job's own (a whole job, or a split job's join), or a
        # segment's index; the run that splits its job goes on as segment 0.
        self.unit = ""
        self._unit_lock = threading.Lock()
        self._renewed = time.monotonic()
        self._lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{job_id}", daemon=True)

    def begin(self) -> None:
        self._renewed = time.monotonic()
        self._deadline = self._renewed + self.time_limit
        self._thread.start()

    def end(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _renew_loop(self) -> None:
        while not self._done.wait(self.lease / 5):
            try:
                with self._unit_lock:
                    renewed = self.store.renew(self.job_id, self.token, self.lease, self.unit)
                if renewed:
                    self._renewed = time.monotonic()
                else:
                    self._lost = True
                    return
            except redis.RedisError as exc:  # keep trying; should_stop fences if it lasts
                log.warning(
                    "job %s: lease not renewed: %s",
                    self.job_id,
                    exc,
                    extra={"event": "lease_not_renewed", "job_id": self.job_id},
                )

    def move_to(self, unit: str, change: Callable[[], T], when: Callable[[T], bool] = bool) -> T:
        """Run ``change`` (a store call that moves this run's lease to ``unit`` when its
        outcome passes ``when``) with no renewal in between, so that none is made of a
        lease the run no longer holds."""
        with self._unit_lock:
            outcome = change()
            if when(outcome):
                self.unit = unit
            return outcome

    def should_stop(self) -> bool:
        now = time.monotonic()
        if self._lost or now - self._renewed > self.lease / 2:
            self.reason = "lease_lost"
            return True
        if now > self._deadline:
            self.reason = "time_limit"
            return True
        try:
            cancel, draining, ended = self.store.run_flags(self.job_id, self.worker)
        except redis.RedisError:
            return False
        if ended:  # another unit of a split job recorded its outcome
            self.reason = "lease_lost"
        elif cancel:
            self.reason = "cancel"
        elif draining:
            self.reason = "hand_back"
        return self.reason is not None
