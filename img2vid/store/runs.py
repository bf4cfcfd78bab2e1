"""Running a job: the lease that keeps it on one worker at a time, its progress, its
outcome, and taking it back from a worker that is stopping or lost. Every change is one
of the Lua scripts (scripts.py), so a job moves queued -> running -> finished once,
whoever else is looking."""

from __future__ import annotations

import json

from img2vid.job import FINISHED, ErrorBody, Job, Result
from img2vid.store.metrics import observation_args
from img2vid.store.records import outcome_json
from img2vid.store.segments import SegmentsMixin


class RunsMixin(SegmentsMixin):
    def start(self, job_id: str, token: str, worker: str, pid: int, lease_seconds: float) -> Job | None:
        """Move a queued job to running under a lease held by run ``token``; None when
        it is not queued (finished, cancelled, gone, or running elsewhere)."""
        ok = self._run("start", job_id, job_id, token, worker, pid, lease_seconds)
        return self.get(job_id) if ok == 1 else None

    def renew(self, job_id: str, token: str, lease_seconds: float, unit: str = "") -> bool:
        """Renew run ``token``'s lease of the job, or of one of its units (``Unit.lease``)."""
        return self._run("renew", job_id, token, lease_seconds, unit) == 1

    def progress(self, job_id: str, done: int, total: int, token: str, unit: str = "") -> None:
        self._run("progress", job_id, done, total, token, unit)

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

    def hand_back(self, job_id: str, token: str, unit: str = "") -> bool:
        """A stopping worker gives its running job (or a split job's unit) back."""
        return self._run("hand_back", job_id, job_id, token, unit) == 1

    def reap(self, job_id: str, max_deaths: int) -> tuple[str, int]:
        """Requeue (or fail, or finish cancelling) a running job whose lease has ended,
        or the units of a split job whose leases have: ('requeued', messages to send),
        ('failed', 0), ('cancelled', 0), or ('', 0) when every lease still holds."""
        outcome, _, units = self._run("reap", job_id, job_id, max_deaths).partition(":")
        return outcome, (int(units or 1) if outcome == "requeued" else 0)

    def runs(self, job_id: str) -> list[dict]:
        """Every run's start and end, as the scripts logged them."""
        return [json.loads(e) for e in self._redis.lrange(self._keys.runs(job_id), 0, -1)]

    def run_flags(self, job_id: str, worker: str) -> tuple[bool, bool, bool]:
        """(cancel requested, this worker is stopping, the job has an outcome already),
        in one round trip: a split job's other units learn of its end this way."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hmget(self._keys.job(job_id), "cancel", "state")
        pipe.exists(self._keys.draining(worker))
        (cancel, state), draining = pipe.execute()
        return cancel == "1", bool(draining), state in FINISHED or state is None

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
            elif state == "idle":  # a split job none of whose units runs: nothing to ask
                message = "cancelled while its segments waited for a worker"
                self.finish(job_id, "cancelled", error=ErrorBody(code="cancelled", message=message))
                return "running"
            return state
