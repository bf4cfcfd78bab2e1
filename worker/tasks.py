"""The Celery task: a thin shell that takes the job's lease, calls the engine, and
records the outcome."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded

from img2vid import logs
from img2vid.engine import encode
from img2vid.engine.codecs import CODECS
from img2vid.engine.memory import give_back
from img2vid.errors import CancelledError, Img2VidError, TimeLimitError
from img2vid.job import ErrorBody, Job, Result
from img2vid.store import ENCODE_TASK
from worker.lease import Run
from worker.runtime import Runtime, runtime

log = logging.getLogger(__name__)


@runtime().celery.task(name=ENCODE_TASK, bind=True)
def encode_job(self, job_id: str) -> str:
    rt = runtime()
    worker = self.request.hostname or "worker"
    run = Run(rt.store, job_id, worker, rt.settings.lease_seconds, time_limit=rt.settings.task_time_limit)
    # A message for a job that is finished, cancelled, or running under another run's
    # lease (a redelivered or duplicate message) finds it not queued and does nothing.
    with logs.job_context(job_id):
        job = rt.store.start(job_id, run.token, worker, os.getpid(), rt.settings.lease_seconds)
        if job is None:
            logs.event(
                log,
                "job_message_skipped",
                f"job {job_id} is not queued (finished, cancelled, running "
                "elsewhere, or gone): its message does nothing",
                worker=worker,
            )
            return "skipped"
        logs.event(
            log,
            "job_started",
            f"job {job_id} started (attempt {job.attempts}) on {worker}",
            attempt=job.attempts,
            worker=worker,
            frames=job.frames_total,
            codec=job.spec.codec,
            source="upload" if job.upload else "folder",
        )
        run.begin()
        try:
            return _encode(rt, job, run)
        finally:
            run.end()
            give_back()  # what the job's threads freed, to the system


def _encode(rt: Runtime, job: Job, run: Run) -> str:
    spec, storage = job.spec, rt.storage
    try:
        # Looked up again here, not only at submit: a link can be made after that.
        frames = storage.frames_of(job, stop=run.should_stop)
        with storage.output_slot(job, CODECS[spec.codec].suffix) as slot:
            result = encode(
                frames,
                slot.video,
                spec.encode_options(max_pixels=rt.settings.max_pixels, max_frame_bytes=rt.settings.max_frame_bytes),
                poster=slot.poster,
                # A re-run replaces the files atomically: a reader sees the old or the new.
                overwrite=True,
                progress=lambda done, total: _best_effort(rt.store.progress, job.id, done, total, run.token),
                should_cancel=run.should_stop,
                threads=rt.settings.decode_threads,
            )
            slot.publish(stop=run.should_stop)
    except CancelledError as exc:
        return _stopped(rt, job, run, exc)
    except SoftTimeLimitExceeded:  # the run was stuck where it could not check its limit
        return _time_limit_exceeded(rt, job, run)
    except Img2VidError as exc:
        return _failed(rt, job, run, _client_error(exc, rt, job))
    except Exception as exc:  # a bug, not bad input: log it whole, tell the client briefly
        logs.event(
            log,
            "job_failed",
            f"job {job.id} failed unexpectedly: {exc}",
            level=logging.ERROR,
            exc_info=True,
            code="internal_error",
            worker=run.worker,
        )
        storage.remove_output(job.id)
        # Its text may name the server's files or the library's source: the log has it.
        _finish(
            job.id,
            "failed",
            run,
            error=ErrorBody(
                code="internal_error",
                message=f"the encoder failed unexpectedly; the worker's log has the details (job {job.id})",
            ),
        )
        return "failed"

    recorded = _finish(
        job.id,
        "succeeded",
        run,
        result=Result(
            video=result.video.name,
            frames=result.frames,
            width=result.width,
            height=result.height,
            fps=result.fps,
            codec=result.codec,
            bytes=result.bytes,
            duration_seconds=round(result.duration_seconds, 3),
            bad_frames=len(result.bad_frames),
        ),
        timing=(result.seconds, result.frames_per_second),
    )
    _best_effort(rt.store.record_rate, result.frames_per_second)
    if recorded:
        logs.event(
            log,
            "job_succeeded",
            f"job {job.id} succeeded: {result.frames} frames in {result.seconds:.2f} s "
            f"({result.frames_per_second:.1f} frames/s), {result.bytes} bytes",
            worker=run.worker,
            frames=result.frames,
            seconds=round(result.seconds, 3),
            fps=round(result.frames_per_second, 1),
            bytes=result.bytes,
            codec=result.codec,
            width=result.width,
            height=result.height,
            video=result.video.name,
        )
    return "succeeded"


def _stopped(rt: Runtime, job: Job, run: Run, exc: CancelledError) -> str:
    """The run stopped itself: why decides what becomes of the job (worker/lease.py)."""
    if run.reason == "hand_back":
        if rt.store.hand_back(job.id, run.token):
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
        return _time_limit_exceeded(rt, job, run)
    _remove_output(rt, job)
    if _finish(job.id, "cancelled", run, error=ErrorBody(**exc.to_dict())):
        logs.event(log, "job_cancelled", f"job {job.id} cancelled while running", worker=run.worker)
    return "cancelled"


def _time_limit_exceeded(rt: Runtime, job: Job, run: Run) -> str:
    """Fail the job for good: a job that outran its limit would outrun it again."""
    limit = rt.settings.task_time_limit
    error = TimeLimitError(f"the job ran longer than the time limit of {limit:,} s (IMG2VID_TASK_TIME_LIMIT)")
    return _failed(rt, job, run, ErrorBody(**error.to_dict()))


def _failed(rt: Runtime, job: Job, run: Run, error: ErrorBody) -> str:
    """Fail the job for good with the error a client reads; its output goes."""
    _remove_output(rt, job)
    if _finish(job.id, "failed", run, error=error):
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


def _client_error(exc: Img2VidError, rt: Runtime, job: Job) -> ErrorBody:
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


def _remove_output(rt: Runtime, job: Job) -> None:
    """A failed or cancelled run's outputs go; a store that is away keeps them for the
    orphan sweep rather than failing the outcome."""
    try:
        rt.storage.remove_output(job.id)
    except Img2VidError as exc:
        logs.event(
            log, "output_not_removed", f"job {job.id}: outputs not removed: {exc.message}", level=logging.WARNING
        )


def _finish(job_id: str, state: str, run: Run, **outcome) -> bool:
    """Record the outcome under the run's lease; Redis may be restarting, so keep trying
    while the lease can still be ours. False when the lease is no longer this run's."""
    store = runtime().store
    deadline = time.monotonic() + run.lease
    while True:
        try:
            if store.finish(job_id, state, token=run.token, **outcome):
                return True
            logs.event(
                log,
                "job_outcome_refused",
                f"job {job_id}: outcome {state} not recorded, the lease is no longer this run's",
                level=logging.WARNING,
                state=state,
            )
            return False
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _best_effort(fn, *args):
    """Progress reports must not fail a job while Redis blinks."""
    try:
        return fn(*args)
    except redis.RedisError:
        return None
