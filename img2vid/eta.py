"""How long a job has left: from its own rate while running, from the recent average
rate (and the work queued ahead of it) while queued."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .jobstore import JobRecord, JobStore


def fill_eta(store: "JobStore", rec: "JobRecord", rank: int | None, rate: float | None, workers: int) -> None:
    now = time.time()
    if rec.state == "running" and rec.started_at:
        elapsed = now - rec.started_at
        measured = rec.frames_done / elapsed if rec.frames_done and elapsed > 0.2 else rate
        if measured:
            rec.eta_seconds = round(max(0, rec.frames_total - rec.frames_done) / measured, 1)
    elif rec.state == "queued" and rank is not None:
        rec.queue_position = rank
        if rate:
            ahead = _frames_ahead(store, rank)
            rec.eta_seconds = round((ahead / workers + rec.frames_total) / rate, 1)


def _frames_ahead(store: "JobStore", rank: int, sample: int = 200) -> float:
    """Frames still to encode before the job at ``rank`` starts: queued jobs ahead
    (the first ``sample`` read, the rest assumed alike) plus running jobs' rest."""
    if rank == 0:
        ids: list[str] = []
    else:
        ids = store.r.zrange(store.k_queue, 0, min(rank, sample) - 1)
    running = store.r.zrange(store.k_state("running"), 0, -1)
    pipe = store.r.pipeline(transaction=False)
    for i in ids + running:
        pipe.hmget(store.k_job(i), "frames_total", "frames_done")
    rows = pipe.execute()
    queued = [int(t or 0) for t, _ in rows[: len(ids)]]
    rest = sum(max(0, int(t or 0) - int(d or 0)) for t, d in rows[len(ids):])
    if queued and rank > len(queued):
        return sum(queued) / len(queued) * rank + rest
    return sum(queued) + rest
