"""How long a job has left: from its own rate while running, from the recent average
rate (and the work queued ahead of it) while queued."""

from __future__ import annotations

import time

from img2vid.job import Job
from img2vid.store.base import StoreBase


class EtaMixin(StoreBase):
    def record_rate(self, frames_per_second: float) -> None:
        """Fold a finished job's speed into the average that ETAs are made from."""
        old = self._redis.get(self._keys.rate)
        new = frames_per_second if old is None else 0.7 * float(old) + 0.3 * frames_per_second
        self._redis.set(self._keys.rate, repr(new))

    def frames_ahead(self, rank: int, sample: int = 200) -> float:
        """Frames still to encode before the job at queue position ``rank`` starts: the
        queued jobs ahead (the first ``sample`` read, the rest assumed alike) plus the
        running jobs' rest."""
        ids: list[str] = [] if rank == 0 else self._redis.zrange(self._keys.queue, 0, min(rank, sample) - 1)
        running = self._redis.zrange(self._keys.state("running"), 0, -1)
        pipe = self._redis.pipeline(transaction=False)
        for i in ids + running:
            pipe.hmget(self._keys.job(i), "frames_total", "frames_done")
        rows = pipe.execute()
        queued = [int(t or 0) for t, _ in rows[: len(ids)]]
        rest = sum(max(0, int(t or 0) - int(d or 0)) for t, d in rows[len(ids) :])
        if queued and rank > len(queued):
            return sum(queued) / len(queued) * rank + rest
        return sum(queued) + rest

    def _fill_eta(self, job: Job, rank: int | None, rate: float | None, workers: int) -> None:
        now = time.time()
        if job.state == "running" and job.started_at:
            elapsed = now - job.started_at
            measured = job.frames_done / elapsed if job.frames_done and elapsed > 0.2 else rate
            if measured:
                job.eta_seconds = round(max(0, job.frames_total - job.frames_done) / measured, 1)
        elif job.state == "queued" and rank is not None:
            job.queue_position = rank
            if rate:
                job.eta_seconds = round((self.frames_ahead(rank) / workers + job.frames_total) / rate, 1)
