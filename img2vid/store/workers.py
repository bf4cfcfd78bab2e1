"""The workers as the store sees them: who is alive (a heartbeat every few seconds), who
is stopping, and locks that let one worker at a time do what must be done once."""

from __future__ import annotations

import time

from img2vid.store.base import StoreBase

# A worker is alive while its last heartbeat is younger than this (it beats every
# IMG2VID_HEARTBEAT_SECONDS, 2 by default).
WORKER_ALIVE_SECONDS = 15


class WorkersMixin(StoreBase):
    def heartbeat(self, worker: str) -> None:
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.zadd(self._keys.workers, {worker: now})
        pipe.zremrangebyscore(self._keys.workers, "-inf", now - 60)
        pipe.execute()

    def forget_worker(self, worker: str) -> None:
        self._redis.zrem(self._keys.workers, worker)

    @staticmethod
    def alive_since() -> float:
        """Workers whose last heartbeat is later than this are alive."""
        return time.time() - WORKER_ALIVE_SECONDS

    def live_workers(self) -> int:
        return int(self._redis.zcount(self._keys.workers, self.alive_since(), "+inf"))

    def set_draining(self, worker: str, draining: bool) -> None:
        """Mark ``worker`` as stopping (its running jobs then hand themselves back)."""
        if draining:
            self._redis.set(self._keys.draining(worker), "1", ex=3600)
        else:
            self._redis.delete(self._keys.draining(worker))

    def try_lock(self, name: str, holder: str, seconds: float) -> bool:
        """Take the lock ``name`` for ``seconds`` unless someone holds it; True if taken.

        It is never released: it expires by itself, on Redis's clock, so the lock is
        the timer too. However many workers ask, exactly one gets it per period, and a
        holder that dies leaves it to expire."""
        return bool(self._redis.set(self._keys.lock(name), holder, nx=True, px=max(1, int(seconds * 1000))))
