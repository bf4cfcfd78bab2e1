"""How a run's end becomes the job's outcome: recorded under the run's lease, its
files removed when it failed or was cancelled, its errors told in the client's words.
Shared by the whole job's run and a split job's segments and join (tasks.py, split.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis
from celery.exceptions import SoftTimeLimitExceeded

from img2vid import logs
from img2vid.errors import CancelledError, Img2VidError, TimeLimitError
from img2vid.job import ErrorBody, Job, Result
from img2vid.store.webhooks import send_if_due
from worker.lease import Run
from worker.runtime import Runtime, runtime

log = logging.getLogger("worker.tasks")
T = TypeVar("T")


def ended_by(rt: Runtime, job: Job, run: Run, exc: BaseException) -> str:
    """What a run that raised makes of its job; KeyboardInterrupt and the like go on up."""
    if isinstance(exc, CancelledError):
        return stopped(rt, job, run, exc)
    if isinstance(exc, SoftTimeLimitExceeded):  # the run was stuck where it could not check its limit
        return time_limit_exceeded(rt, job, run)
    if isinstance(exc, Img2VidError):
        return failed(rt, job, run, client_error(exc, rt, job))
    if not isinstance(exc, Exception):
        raise exc
    # A bug, not bad input: log it whole, tell the client briefly.
    logs.event(
        log,
        "job_failed",
        f"job {job.id} failed unexpectedly: {exc}",
        level=logging.ERROR,
        exc_info=exc,
        code="internal_error",
        worker=run.worker,
    )
    remove_outputs(rt, job, run)
    # Its text may name the server's files or the library's source: the log has it.
    message = f"the encoder failed unexpectedly; the worker's log has the details (job {job.id})"
    finish(job.id, "failed", run, error=ErrorBody(code="internal_error", message=message))
    return "failed"


def succeeded(rt: Runtime, job: Job, run: Run, result: Result, seconds: float, **fields) -> bool:
    """Record ``result`` (made in ``seconds``) as the job's, fold its rate into the ETAs'
    average, and log it with ``fields``; False when the lease is no longer this run's."""
    rate = result.frames / seconds if seconds > 0 else 0.0
    recorded = finish(job.id, "succeeded", run, result=result, timing=(seconds, rate))
    best_effort(rt.store.record_rate, rate)
    if recorded:
        logs.event(
            log,
            "job_succeeded",
            f"job {job.id} succeeded: {result.frames} frames in {seconds:.2f} s "
            f"({rate:.1f} frames/s), {result.bytes} bytes",
            worker=run.worker,
            frames=result.frames,
            seconds=round(seconds, 3),
            fps=round(rate, 1),
            bytes=result.bytes,
            codec=result.codec,
            width=result.width,
            height=result.height,
            video=result.video,
            **fields,
        )
    return recorded


def stopped(rt: Runtime, job: Job, run: Run, exc: CancelledError) -> str:
    """The run stopped itself: why decides what becomes of the job (worker/lease.py)."""
    if run.reason == "hand_back":
        if rt.store.hand_back(job.id, run.token, run.unit):
            rt.tasks.send_retaken(job.id)
            logs.event(
                log,
                "job_handed_back",
                f"job {job.id} handed back to the queue: its worker is stopping",
                worker=run.worker,
            )
        return "handed back"
    if run.reason == "lease_lost":
        logs.event(
            log,
            "job_lease_lost",
            f"job {job.id} stopped: its lease is no longer this run's",
            level=logging.WARNING,
            worker=run.worker,
        )
        return "lease lost"  # the job is someone else's now: touch nothing
    if run.reason == "time_limit":
        return time_limit_exceeded(rt, job, run)
    remove_outputs(rt, job, run)
    if finish(job.id, "cancelled", run, error=ErrorBody(**exc.to_dict())):
        logs.event(log, "job_cancelled", f"job {job.id} cancelled while running", worker=run.worker)
    return "cancelled"


def time_limit_exceeded(rt: Runtime, job: Job, run: Run) -> str:
    """Fail the job for good: a job that outran its limit would outrun it again."""
    limit = rt.settings.task_time_limit
    error = TimeLimitError(f"the job ran longer than the time limit of {limit:,} s (IMG2VID_TASK_TIME_LIMIT)")
    return failed(rt, job, run, ErrorBody(**error.to_dict()))


def failed(rt: Runtime, job: Job, run: Run, error: ErrorBody) -> str:
    """Fail the job for good with the error a client reads; its output goes."""
    remove_outputs(rt, job, run)
    if finish(job.id, "failed", run, error=error):
        logs.event(
            log,
            "job_failed",
            f"job {job.id} failed: {error.message}",
            level=logging.WARNING,
            code=error.code,
            file=error.path,
            worker=run.worker,
        )
    return "failed"


def client_error(exc: Img2VidError, rt: Runtime, job: Job) -> ErrorBody:
    """The error as a client should read it: uploaded frames named as the client named
    them, and the server places a library's words may hold by what they are (the
    storage knows them): never a path."""
    body = exc.to_dict()
    if exc.path:
        saved = Path(exc.path).name
        original = rt.storage.client_names(job).get(saved, saved) if job.upload else saved
        body["message"] = body["message"].replace(saved, original)
        body["path"] = original
    message = body["message"]
    for place, words in rt.storage.private_places(job).items():  # the deepest first
        message = message.replace(place, words)
    body["message"] = message
    return ErrorBody(**body)


def remove_outputs(rt: Runtime, job: Job, run: Run) -> None:
    """A failed or cancelled run's outputs (and a split job's segments) go; a store that is away keeps them for the
    orphan sweep rather than failing the outcome."""
    try:
        rt.storage.remove_output(job.id)
        if job.segments is not None or run.unit:
            rt.storage.remove_segments(job.id)
    except Img2VidError as exc:
        logs.event(
            log, "output_not_removed", f"job {job.id}: outputs not removed: {exc.message}", level=logging.WARNING
        )


def finish(job_id: str, state: str, run: Run, **outcome) -> bool:
    """Record the outcome under the run's lease, then send the job's webhook delivery if
    it has one (the sweep would, a beat later). False when the lease is no longer this run's."""
    rt = runtime()
    if persist(run, lambda: rt.store.finish(job_id, state, token=run.token, **outcome)):
        send_if_due(rt.store, rt.tasks, job_id, rt.settings.webhook_claim_seconds)
        return True
    logs.event(
        log,
        "job_outcome_refused",
        f"job {job_id}: outcome {state} not recorded, the lease is no longer this run's",
        level=logging.WARNING,
        state=state,
    )
    return False


def persist(run: Run, change: Callable[[], T]) -> T:
    """Make a change the run must not lose: Redis may be restarting, so keep trying
    while the lease can still be ours."""
    deadline = time.monotonic() + run.lease
    while True:
        try:
            return change()
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def best_effort(fn, *args):
    """Progress reports must not fail a job while Redis blinks."""
    try:
        return fn(*args)
    except redis.RedisError:
        return None
