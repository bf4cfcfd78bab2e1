"""Running a job: the lease that keeps it on one worker at a time, its progress, its
outcome, and taking it back from a worker that is stopping or lost. Every change is one
of the Lua scripts (scripts.py), so a job moves queued -> running -> finished once,
whoever else is looking."""

from __future__ import annotations

import json

from img2vid.job import FINISHED, ErrorBody, Job, Result
from img2vid.store.jobs import JobsMixin
from img2vid.store.metrics import observation_args
from img2vid.store.records import outcome_json


class RunsMixin(JobsMixin):
    def start(self, job_id: str, token: str, worker: str, pid: int, lease_seconds: float) -> Job | None:
        """Move a queued job to running under a lease held by run ``token``; None when
        it is not queued (finished, cancelled, gone, or running elsewhere)."""
        ok = self._run("start", job_id, job_id, token, worker, pid, lease_seconds)
        return self.get(job_id) if ok == 1 else None

    def renew(self, job_id: str, token: str, lease_seconds: float) -> bool:
        return self._run("renew", job_id, token, lease_seconds) == 1

    def progress(self, job_id: str, done: int, total: int, token: str) -> None:
        self._run("progress", job_id, done, total, token)

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        token: str = "",
        result: Result | None = None,
        error: ErrorBody | None = None,
        timing: tuple[float, float] | None = None,
    ) -> bool:
        """Record the outcome of run ``token`` (refused if the lease is not its own), or
        cancel a queued job (no token). ``timing`` (encode seconds, frames/s) of a
        succeeded run goes into the metrics' histograms in the same step."""
        assert state in FINISHED
        observed = observation_args(*timing) if timing and state == "succeeded" else []
        ok = self._run("finish", job_id, job_id, state, outcome_json(result), outcome_json(error), token, *observed)
        return ok == 1

    def hand_back(self, job_id: str, token: str) -> bool:
        """A stopping worker gives its running job back to the queue."""
        return self._run("hand_back", job_id, job_id, token) == 1

    def reap(self, job_id: str, max_deaths: int) -> str:
        """Requeue (or fail, or finish cancelling) a running job whose lease has ended:
        'requeued', 'failed', 'cancelled', or '' when its lease still holds."""
        return self._run("reap", job_id, job_id, max_deaths)

    def running_ids(self) -> list[str]:
        return self._redis.zrange(self._keys.state("running"), 0, -1)

    def runs(self, job_id: str) -> list[dict]:
        """Every run's start and end, as the scripts logged them."""
        return [json.loads(e) for e in self._redis.lrange(self._keys.runs(job_id), 0, -1)]

    def run_flags(self, job_id: str, worker: str) -> tuple[bool, bool]:
        """(cancel requested, this worker is stopping), in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hget(self._keys.job(job_id), "cancel")
        pipe.exists(self._keys.draining(worker))
        cancel, draining = pipe.execute()
        return cancel == "1", bool(draining)

    def cancel(self, job_id: str) -> str | None:
        """Cancel: a queued job is cancelled at once, a running one is asked to stop.
        Returns the state the job was in, or None for an unknown id."""
        with self._guard():
            state = self._run("request_cancel", job_id)
            if state == -1:
                return None
            if state == "queued":
                self.finish(
                    job_id, "cancelled", error=ErrorBody(code="cancelled", message="cancelled before it started")
                )
            return state
