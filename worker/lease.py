"""One run of one job: holding its lease, and knowing when to stop.

A thread renews the lease every lease/5 seconds. The encode loop asks ``should_stop``
about ten times a second; the answer is a reason, or None:

- ``cancel``: a client cancelled the job;
- ``hand_back``: this worker is shutting down (SIGTERM) and gives the job back;
- ``time_limit``: the run has gone on longer than its time limit;
- ``lease_lost``: the lease is no longer ours, or has not been renewed for half its
  length (Redis unreachable, or this process was frozen). The run stops before the
  lease can end, so the reaper never gives the job to a second worker while this one
  still writes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import redis

from img2vid.store import JobStore

log = logging.getLogger(__name__)


class Run:
    def __init__(
        self, store: JobStore, job_id: str, worker: str, lease_seconds: float, time_limit: float = float("inf")
    ) -> None:
        self.store, self.job_id, self.worker, self.lease = store, job_id, worker, lease_seconds
        self.time_limit = time_limit
        self._deadline = float("inf")
        self.token = secrets.token_hex(8)
        self.reason: str | None = None
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
                if self.store.renew(self.job_id, self.token, self.lease):
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

    def should_stop(self) -> bool:
        now = time.monotonic()
        if self._lost or now - self._renewed > self.lease / 2:
            self.reason = "lease_lost"
            return True
        if now > self._deadline:
            self.reason = "time_limit"
            return True
        try:
            cancel, draining = self.store.run_flags(self.job_id, self.worker)
        except redis.RedisError:
            return False
        if cancel:
            self.reason = "cancel"
        elif draining:
            self.reason = "hand_back"
        return self.reason is not None
