"""Job records in Redis: the source of truth for every job's state, progress and result.

Celery only carries "run job <id>"; what a client sees comes from here, so an unknown id
is a plain 404 and never Celery's eternal PENDING. State changes are Lua scripts, so a
job moves queued -> running -> finished once, whoever else is looking (see
store_scripts.py for the scripts and the lease that keeps a job on one worker at a time).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from . import jobmetrics, store_scripts
from .errors import UnavailableError
from .eta import fill_eta
from .models import FINISHED, STATES

log = logging.getLogger(__name__)

# A worker is alive while its last heartbeat is younger than this (it beats every
# IMG2VID_HEARTBEAT_SECONDS, 2 by default).
WORKER_ALIVE_SECONDS = 15

def new_job_id() -> str:
    # Sortable by creation time to the millisecond, then random: short, URL-safe.
    return f"{int(time.time() * 1000):x}{secrets.token_hex(5)}"


@dataclass
class JobRecord:
    id: str
    state: str
    spec: dict[str, Any]
    source: str  # absolute path of the frames folder
    created_at: float
    frames_total: int = 0
    frames_done: int = 0
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    upload: bool = False
    # The name of the API token (or signed-in page session) that created it; None when
    # the service is open (API_TOKENS unset).
    owner: str | None = None
    # Filled in by the store when read for display.
    queue_position: int | None = None
    eta_seconds: float | None = None

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> "JobRecord":
        def f(name: str) -> float | None:
            v = h.get(name)
            return float(v) if v not in (None, "") else None

        return cls(
            id=h["id"],
            state=h["state"],
            spec=json.loads(h.get("spec") or "{}"),
            source=h.get("source", ""),
            created_at=float(h["created_at"]),
            frames_total=int(h.get("frames_total") or 0),
            frames_done=int(h.get("frames_done") or 0),
            attempts=int(h.get("attempts") or 0),
            started_at=f("started_at"),
            finished_at=f("finished_at"),
            result=_loads(h["result"]) if h.get("result") else None,
            error=_loads(h["error"]) if h.get("error") else None,
            upload=h.get("upload") == "1",
            owner=h.get("owner") or None,
        )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def _loads(text: str) -> Any:
    # A record written before fps had a floor may hold Infinity: read it as null, so
    # that one old job cannot break every listing that includes it.
    return json.loads(text, parse_constant=lambda _: None)


class JobStore:
    def __init__(self, client: redis.Redis, prefix: str = "img2vid:") -> None:
        self.r = client
        self.p = prefix
        self._start = client.register_script(store_scripts.START)
        self._renew = client.register_script(store_scripts.RENEW)
        self._finish = client.register_script(store_scripts.FINISH)
        self._hand_back = client.register_script(store_scripts.HAND_BACK)
        self._reap = client.register_script(store_scripts.REAP)
        self._progress = client.register_script(store_scripts.PROGRESS)
        self._request_cancel = client.register_script(store_scripts.REQUEST_CANCEL)

    @classmethod
    def from_url(cls, url: str, prefix: str = "img2vid:") -> "JobStore":
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
            health_check_interval=15, retry_on_timeout=True,
        )
        return cls(client, prefix)

    # --- keys ---------------------------------------------------------------------
    def k_job(self, job_id: str) -> str:
        return f"{self.p}job:{job_id}"

    @property
    def k_all(self) -> str:
        return f"{self.p}jobs"

    def k_state(self, state: str = "") -> str:
        return f"{self.p}state:{state}"

    @property
    def k_queue(self) -> str:
        return f"{self.p}queue"

    @property
    def k_finished(self) -> str:
        return f"{self.p}finished"

    @property
    def k_workers(self) -> str:
        return f"{self.p}workers"

    @property
    def k_rate(self) -> str:
        return f"{self.p}rate"

    @property
    def k_metrics(self) -> str:
        return f"{self.p}metrics"

    def k_runs(self, job_id: str) -> str:
        return f"{self.p}runs:{job_id}"

    def k_draining(self, worker: str) -> str:
        return f"{self.p}draining:{worker}"

    def k_owner(self, owner: str) -> str:
        """The owner's jobs, scored by creation time (the per-state sets are for all)."""
        return f"{self.p}owner:{owner}"

    def k_idempotency(self, key: str, owner: str | None) -> str:
        # Each owner's keys are its own: the same key from two tokens is two jobs.
        return f"{self.p}idem:{key}" if owner is None else f"{self.p}idem-of:{owner}:{key}"

    def _keys(self, job_id: str) -> list[str]:
        return [self.k_job(job_id), self.k_queue, self.k_state(), self.k_finished, self.k_runs(job_id), self.k_metrics]

    # --- writing ------------------------------------------------------------------
    def create_many(self, records: list[JobRecord]) -> None:
        """Store queued jobs, all in one round trip."""
        with self._guard():
            pipe = self.r.pipeline(transaction=True)
            for rec in records:
                pipe.hset(self.k_job(rec.id), mapping={
                    "id": rec.id, "state": "queued", "spec": json.dumps(rec.spec, allow_nan=False),
                    "source": rec.source, "created_at": repr(rec.created_at), "frames_total": rec.frames_total,
                    "frames_done": 0, "attempts": 0, "upload": "1" if rec.upload else "0", "owner": rec.owner or "",
                })
                pipe.zadd(self.k_all, {rec.id: rec.created_at})
                if rec.owner:
                    pipe.zadd(self.k_owner(rec.owner), {rec.id: rec.created_at})
                pipe.zadd(self.k_state("queued"), {rec.id: rec.created_at})
                pipe.zadd(self.k_queue, {rec.id: rec.created_at})
            pipe.hincrby(self.k_metrics, "submitted", len(records))
            pipe.execute()

    def start(self, job_id: str, token: str, worker: str, pid: int, lease_seconds: float) -> JobRecord | None:
        """Move a queued job to running under a lease held by run ``token``; None when
        it is not queued (finished, cancelled, gone, or running elsewhere)."""
        ok = self._start(keys=self._keys(job_id), args=[job_id, token, worker, pid, lease_seconds])
        return self.get(job_id) if ok == 1 else None

    def renew(self, job_id: str, token: str, lease_seconds: float) -> bool:
        return self._renew(keys=self._keys(job_id), args=[token, lease_seconds]) == 1

    def progress(self, job_id: str, done: int, total: int, token: str) -> None:
        self._progress(keys=[self.k_job(job_id)], args=[done, total, token])

    def finish(self, job_id: str, state: str, *, token: str = "", result: dict | None = None,
               error: dict | None = None, timing: tuple[float, float] | None = None) -> bool:
        """Record the outcome of run ``token`` (refused if the lease is not its own), or
        cancel a queued job (no token). ``timing`` (encode seconds, frames/s) of a
        succeeded run goes into the metrics' histograms in the same step."""
        assert state in FINISHED
        observed = jobmetrics.observation_args(*timing) if timing and state == "succeeded" else []
        # allow_nan=False: a result that is not strict JSON fails here, in the worker,
        # rather than in every later listing of it.
        ok = self._finish(keys=self._keys(job_id), args=[
            job_id, state, json.dumps(result, allow_nan=False) if result else "",
            json.dumps(error, allow_nan=False) if error else "", token, *observed])
        return ok == 1

    def hand_back(self, job_id: str, token: str) -> bool:
        return self._hand_back(keys=self._keys(job_id), args=[job_id, token]) == 1

    def reap(self, job_id: str, max_deaths: int) -> str:
        """Requeue (or fail, or finish cancelling) a running job whose lease has ended."""
        return self._reap(keys=self._keys(job_id), args=[job_id, max_deaths])

    def running_ids(self) -> list[str]:
        return self.r.zrange(self.k_state("running"), 0, -1)

    def runs(self, job_id: str) -> list[dict]:
        """Every run's start and end, as the scripts logged them."""
        return [json.loads(e) for e in self.r.lrange(self.k_runs(job_id), 0, -1)]

    def run_flags(self, job_id: str, worker: str) -> tuple[bool, bool]:
        """(cancel requested, this worker is stopping), in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(self.k_job(job_id), "cancel")
        pipe.exists(self.k_draining(worker))
        cancel, draining = pipe.execute()
        return cancel == "1", bool(draining)

    def set_draining(self, worker: str, draining: bool) -> None:
        if draining:
            self.r.set(self.k_draining(worker), "1", ex=3600)
        else:
            self.r.delete(self.k_draining(worker))

    def cancel(self, job_id: str) -> str | None:
        """Cancel: a queued job is cancelled at once, a running one is asked to stop.
        Returns the state the job was in, or None for an unknown id."""
        with self._guard():
            state = self._request_cancel(keys=[self.k_job(job_id)], args=[])
            if state == -1:
                return None
            if state == "queued":
                self.finish(job_id, "cancelled", error={"code": "cancelled", "message": "cancelled before it started"})
            return state

    def delete(self, job_id: str) -> None:
        owner = self.r.hget(self.k_job(job_id), "owner")
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.k_job(job_id), self.k_runs(job_id))
        if owner:
            pipe.zrem(self.k_owner(owner), job_id)
        for key in (self.k_all, self.k_queue, self.k_finished, *(self.k_state(s) for s in STATES)):
            pipe.zrem(key, job_id)
        pipe.execute()

    def record_rate(self, frames_per_second: float) -> None:
        """Fold a finished job's speed into the average that ETAs are made from."""
        old = self.r.get(self.k_rate)
        new = frames_per_second if old is None else 0.7 * float(old) + 0.3 * frames_per_second
        self.r.set(self.k_rate, repr(new))

    def heartbeat(self, worker: str) -> None:
        now = time.time()
        pipe = self.r.pipeline()
        pipe.zadd(self.k_workers, {worker: now})
        pipe.zremrangebyscore(self.k_workers, "-inf", now - 60)
        pipe.execute()

    def forget_worker(self, worker: str) -> None:
        self.r.zrem(self.k_workers, worker)

    def claim_idempotency_key(self, key: str, job_id: str, fingerprint: str, ttl: int,
                              owner: str | None = None) -> tuple[str, str] | None:
        """Bind ``owner``'s ``key`` to ``job_id``; if it was bound already, return the
        (job_id, fingerprint) it holds."""
        with self._guard():
            k = self.k_idempotency(key, owner)
            if self.r.set(k, json.dumps([job_id, fingerprint]), nx=True, ex=ttl):
                return None
            held = self.r.get(k)
            return tuple(json.loads(held)) if held else None  # type: ignore[return-value]

    def idempotency_key(self, key: str, owner: str | None = None) -> tuple[str, str] | None:
        with self._guard():
            held = self.r.get(self.k_idempotency(key, owner))
            return tuple(json.loads(held)) if held else None  # type: ignore[return-value]

    def release_idempotency_key(self, key: str, owner: str | None = None) -> None:
        self.r.delete(self.k_idempotency(key, owner))

    # --- reading ------------------------------------------------------------------
    def get(self, job_id: str, *, with_eta: bool = False) -> JobRecord | None:
        with self._guard():
            if not with_eta:
                h = self.r.hgetall(self.k_job(job_id))
                return JobRecord.from_hash(h) if h else None
            pipe = self.r.pipeline(transaction=False)
            pipe.hgetall(self.k_job(job_id))
            pipe.zrank(self.k_queue, job_id)
            pipe.get(self.k_rate)
            pipe.zcount(self.k_workers, self.alive_since(), "+inf")
            h, rank, rate, workers = pipe.execute()
            if not h:
                return None
            rec = JobRecord.from_hash(h)
            fill_eta(self, rec, rank, float(rate) if rate else None, max(1, workers))
            return rec

    def list(self, state: str | None = None, limit: int = 50, offset: int = 0,
             owner: str | None = None) -> tuple[list[JobRecord], int]:
        """A page of jobs, newest first, and how many there are in all; only ``owner``'s
        when given."""
        with self._guard():
            if owner is not None and state:
                # The owner's set scores each job by its creation, as the state sets do.
                ids = self.r.zinter({self.k_owner(owner): 1, self.k_state(state): 0})
                total = len(ids)
                ids = ids[::-1][offset: offset + max(0, limit)]
            else:
                key = self.k_owner(owner) if owner is not None else (self.k_state(state) if state else self.k_all)
                pipe = self.r.pipeline(transaction=False)
                pipe.zrevrange(key, offset, offset + max(0, limit - 1))
                pipe.zcard(key)
                ids, total = pipe.execute()
            pipe = self.r.pipeline(transaction=False)
            for i in ids:
                pipe.hgetall(self.k_job(i))
            return [JobRecord.from_hash(h) for h in pipe.execute() if h], total

    def counts(self) -> dict[str, int]:
        with self._guard():
            pipe = self.r.pipeline(transaction=False)
            for s in STATES:
                pipe.zcard(self.k_state(s))
            pipe.zcount(self.k_workers, self.alive_since(), "+inf")
            *states, workers = pipe.execute()
            return {**dict(zip(STATES, states)), "workers": workers}

    def exists(self, job_id: str) -> bool:
        return bool(self.r.exists(self.k_job(job_id)))

    @staticmethod
    def alive_since() -> float:
        """Workers whose last heartbeat is later than this are alive."""
        return time.time() - WORKER_ALIVE_SECONDS

    def live_workers(self) -> int:
        return int(self.r.zcount(self.k_workers, self.alive_since(), "+inf"))

    def server_time(self) -> float:
        """Redis's clock, which stamps finishes and leases (store_scripts.py)."""
        seconds, micros = self.r.time()
        return seconds + micros / 1_000_000

    def expired(self, retention_seconds: float, limit: int = 500) -> list[str]:
        """Up to ``limit`` jobs that finished longer than the retention ago, on Redis's
        clock, as their finish was stamped."""
        return self.r.zrangebyscore(self.k_finished, "-inf", self.server_time() - retention_seconds, start=0, num=limit)

    def ping(self) -> bool:
        with self._guard():
            return bool(self.r.ping())

    # --- errors -------------------------------------------------------------------
    @staticmethod
    @contextmanager
    def _guard():
        """Turn a lost Redis into UnavailableError (HTTP 503) with a clear message."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The address is the operator's business (the log has it), not the client's.
            log.warning("the job store (Redis) cannot be reached: %s", exc, extra={"event": "redis_unavailable"})
            raise UnavailableError("the job store (Redis) cannot be reached; try again in a minute") from exc

    guard = _guard  # for readers of the store's keys that live beside it (jobmetrics)
