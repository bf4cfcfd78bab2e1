"""Every Redis key the job store uses, and nothing else builds one: each starts with the
deployment's prefix (IMG2VID_KEY_PREFIX), so two deployments, or a test run, can share a
Redis and still never meet."""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def job(self, job_id: str) -> str:
        """The job's record, a hash (records.py)."""
        return f"{self.prefix}job:{job_id}"

    def runs(self, job_id: str) -> str:
        """Every run's start and end, a list the Lua scripts append to."""
        return f"{self.prefix}runs:{job_id}"

    @property
    def all(self) -> str:
        """Every job, scored by its creation time."""
        return f"{self.prefix}jobs"

    def state(self, state: str = "") -> str:
        """The jobs in ``state``; without one, the prefix the scripts add a state to."""
        return f"{self.prefix}state:{state}"

    @property
    def queue(self) -> str:
        """Jobs waiting for a worker, oldest first (the state set's twin, kept by the scripts)."""
        return f"{self.prefix}queue"

    @property
    def finished(self) -> str:
        """Finished jobs, scored by when they finished on Redis's clock (retention reads it)."""
        return f"{self.prefix}finished"

    def owner(self, owner: str) -> str:
        """The owner's jobs, scored by creation time (the per-state sets are for all)."""
        return f"{self.prefix}owner:{owner}"

    @property
    def events(self) -> str:
        """Every job's state changes, a stream the scripts add to (events.py)."""
        return f"{self.prefix}events"

    @property
    def webhooks_due(self) -> str:
        """Finished jobs whose webhook delivery is due, scored by when (webhooks.py)."""
        return f"{self.prefix}webhooks-due"

    @property
    def workers(self) -> str:
        """Live workers, scored by their last heartbeat."""
        return f"{self.prefix}workers"

    def draining(self, worker: str) -> str:
        return f"{self.prefix}draining:{worker}"

    @property
    def rate(self) -> str:
        """The recent average encode rate (frames/s) that ETAs are made from."""
        return f"{self.prefix}rate"

    @property
    def metrics(self) -> str:
        """The counters and histograms of /metrics (metrics.py)."""
        return f"{self.prefix}metrics"

    def idempotency(self, key: str, owner: str | None) -> str:
        # Each owner's keys are its own: the same key from two tokens is two jobs.
        return f"{self.prefix}idem:{key}" if owner is None else f"{self.prefix}idem-of:{owner}:{key}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}{name}-lock"

    def namespace(self, name: str) -> str:
        """A prefix inside the store's for another library's keys (the rate limiter's)."""
        return f"{self.prefix}{name}"

    def for_scripts(self, job_id: str) -> list[str]:
        """KEYS of the state-changing scripts, in the order scripts.py documents."""
        return [
            self.job(job_id),
            self.queue,
            self.state(),
            self.finished,
            self.runs(job_id),
            self.metrics,
            self.events,
            self.webhooks_due,
        ]
