"""The job records: storing new jobs, reading one, a page of them or their counts, and
removing them."""

from __future__ import annotations

from img2vid.job import STATES, Job
from img2vid.store.eta import EtaMixin
from img2vid.store.events import EventsMixin
from img2vid.store.records import from_hash, to_hash
from img2vid.store.workers import WorkersMixin


class JobsMixin(EtaMixin, WorkersMixin, EventsMixin):
    def create_many(self, jobs: list[Job]) -> None:
        """Store queued jobs, all in one round trip."""
        k = self._keys
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            for job in jobs:
                pipe.hset(k.job(job.id), mapping=to_hash(job))
                pipe.zadd(k.all, {job.id: job.created_at})
                if job.owner:
                    pipe.zadd(k.owner(job.owner), {job.id: job.created_at})
                pipe.zadd(k.state("queued"), {job.id: job.created_at})
                pipe.zadd(k.queue, {job.id: job.created_at})
                self.add_event(job.id, "queued", job.owner, pipe)
            pipe.hincrby(k.metrics, "submitted", len(jobs))
            pipe.execute()

    def get(self, job_id: str, *, with_eta: bool = False) -> Job | None:
        """The job, or None; ``with_eta`` adds its queue position and ETA."""
        with self._guard():
            if not with_eta:
                h = self._redis.hgetall(self._keys.job(job_id))
                return from_hash(h) if h else None
            # One script, not a pipeline of four: the status GET is the API's busiest call.
            k = self._keys
            flat, rank, rate, workers = self._scripts["job_with_eta"](
                keys=[k.job(job_id), k.queue, k.rate, k.workers], args=[job_id, self.alive_since()]
            )
            if not flat:
                return None
            job = from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
            self._fill_eta(job, rank, float(rate) if rate else None, max(1, workers))
            return job

    def get_many(self, job_ids: list[str]) -> list[Job]:
        """The jobs that exist of ``job_ids``, in that order, in one round trip."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for i in job_ids:
                pipe.hgetall(self._keys.job(i))
            return [from_hash(h) for h in pipe.execute() if h]

    def list(
        self, state: str | None = None, limit: int = 50, offset: int = 0, owner: str | None = None
    ) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and how many there are in all; only ``owner``'s
        when given."""
        k = self._keys
        with self._guard():
            if owner is not None and state:
                # The owner's set scores each job by its creation, as the state sets do.
                ids = self._redis.zinter({k.owner(owner): 1, k.state(state): 0})
                total = len(ids)
                ids = ids[::-1][offset : offset + max(0, limit)]
            else:
                key = k.owner(owner) if owner is not None else (k.state(state) if state else k.all)
                pipe = self._redis.pipeline(transaction=False)
                pipe.zrevrange(key, offset, offset + max(0, limit - 1))
                pipe.zcard(key)
                ids, total = pipe.execute()
        return self.get_many(ids), total

    def counts(self) -> dict[str, int]:
        """Jobs in each state, and the live workers."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for s in STATES:
                pipe.zcard(self._keys.state(s))
            pipe.zcount(self._keys.workers, self.alive_since(), "+inf")
            *states, workers = pipe.execute()
            return {**dict(zip(STATES, states, strict=True)), "workers": workers}

    def exists(self, job_id: str) -> bool:
        return bool(self._redis.exists(self._keys.job(job_id)))

    def delete(self, job_id: str) -> None:
        """Remove the job's record, run log and every index entry (a webhook not yet
        delivered goes too)."""
        k = self._keys
        owner = self._redis.hget(k.job(job_id), "owner")
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(k.job(job_id), k.runs(job_id))
        if owner:
            pipe.zrem(k.owner(owner), job_id)
        for key in (k.all, k.queue, k.finished, k.webhooks_due, *(k.state(s) for s in STATES)):
            pipe.zrem(key, job_id)
        pipe.execute()

    def expired(self, retention_seconds: float, limit: int = 500) -> list[tuple[str, str]]:
        """Up to ``limit`` finished jobs whose finish is longer than the retention ago, on
        Redis's clock as it was stamped, as (id, state). A job the index names that is
        queued or running is never one (a stale entry): it leaves the index instead."""
        k = self._keys
        while True:
            ids = self._redis.zrangebyscore(
                k.finished, "-inf", self.server_time() - retention_seconds, start=0, num=limit
            )
            if not ids:
                return []
            pipe = self._redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(k.job(job_id), "state")
            found = []
            for job_id, state in zip(ids, pipe.execute(), strict=True):
                if state in ("queued", "running"):
                    self._redis.zrem(k.finished, job_id)
                else:
                    found.append((job_id, state or "unknown"))
            if found:
                return found
