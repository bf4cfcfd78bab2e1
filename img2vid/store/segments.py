"""A split job's units in the store: cutting a running job into segments, taking the
next one, and the end of each (segment_scripts.py has the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from img2vid.job import Job
from img2vid.store.broker import BrokerMixin
from img2vid.store.jobs import JobsMixin

JOIN = "join"


@dataclass(frozen=True)
class Unit:
    """What one run of a job does: the ``whole`` job, one ``segment`` of a split job
    (``index``), or its ``join``; ``lease`` names the unit's lease for renew/progress."""

    kind: Literal["whole", "segment", "join"]
    job: Job
    index: int = -1
    start: int = 0  # a segment's frames: job frames start..stop-1
    stop: int = 0

    @property
    def lease(self) -> str:
        return str(self.index) if self.kind == "segment" else ""


class SegmentsMixin(JobsMixin, BrokerMixin):
    def running_ids(self) -> list[str]:
        return self._redis.zrange(self._keys.state("running"), 0, -1)

    def split(self, job_id: str, token: str, frames: list[int], lease_seconds: float, worker: str, pid: int) -> bool:
        """Cut the job that run ``token`` runs whole into segments of ``frames`` frames
        each; the run goes on as segment 0. False when the lease is no longer its own."""
        return self._run("split", job_id, job_id, token, lease_seconds, worker, pid, *frames) == 1

    def take(self, job_id: str, token: str, worker: str, pid: int, lease_seconds: float) -> Unit | None:
        """The split job's next queued segment, or its join, for run ``token``; None
        when nothing of it waits (a duplicate message, or not a split job)."""
        taken = self._run("take", job_id, job_id, token, worker, pid, lease_seconds)
        if taken == -1:
            return None
        job = self.get(job_id)
        if job is None or job.segments is None:
            return None
        if taken == -2:
            return Unit("join", job)
        counts = self._redis.hmget(self._keys.job(job_id), [f"seg:{i}:frames" for i in range(job.segments.total)])
        start = sum(int(c or 0) for c in counts[:taken])
        return Unit("segment", job, int(taken), start, start + int(counts[taken] or 0))

    def segment_done(self, job_id: str, token: str, index: int, lease_seconds: float) -> str:
        """Segment ``index`` is stored whole: 'join' (this run now holds the join),
        'more' (queued segments wait for a message), 'wait', 'cancelled', or '' when
        the segment is no longer this run's."""
        return self._run("segment_done", job_id, job_id, token, index, lease_seconds)

    def idle_splits(self, queue: str) -> list[str]:
        """Running split jobs with units queued, none running and no message left in
        ``queue``: the message that would have taken the next was lost (its sender died
        between ending a segment and sending it)."""
        if self.broker_messages(queue):
            return []
        return [i for i in self.running_ids() if self._run("idle", i) == 1]
