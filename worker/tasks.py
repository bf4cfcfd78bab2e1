"""The Celery task: a thin shell that takes the job's lease, calls the engine, and
records the outcome."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded

from img2vid import logs
from img2vid.codecs import CODECS
from img2vid.errors import CancelledError, Img2VidError, TimeLimitError
from img2vid.models import JobSpec
from img2vid.options import EncodeOptions
from img2vid.queueing import ENCODE_TASK, PRIORITY_RETAKEN
from img2vid.volume import NAMES_FILE

from .celery_app import app
from .engine import encode
from .lease import Run
from .runtime import runtime

log = logging.getLogger(__name__)

def enqueue(job_id: str) -> None:
    """Send the job's task again (a job handed back, or taken from a lost worker), ahead
    of the jobs that have not started yet."""
    app.send_task(ENCODE_TASK, args=[job_id], queue=runtime().settings.queue, priority=PRIORITY_RETAKEN)


@app.task(name=ENCODE_TASK, bind=True)
def encode_job(self, job_id: str) -> str:
    rt = runtime()
    worker = self.request.hostname or "worker"
    run = Run(rt.store, job_id, worker, rt.settings.lease_seconds, time_limit=rt.settings.task_time_limit)
    # A message for a job that is finished, cancelled, or running under another run's
    # lease (a redelivered or duplicate message) finds it not queued and does nothing.
    with logs.job_context(job_id):
        job = rt.store.start(job_id, run.token, worker, os.getpid(), rt.settings.lease_seconds)
        if job is None:
            logs.event(log, "job_message_skipped", f"job {job_id} is not queued (finished, cancelled, running "
                       "elsewhere, or gone): its message does nothing", worker=worker)
            return "skipped"
        logs.event(log, "job_started", f"job {job_id} started (attempt {job.attempts}) on {worker}",
                    attempt=job.attempts, worker=worker, frames=job.frames_total, codec=job.spec.get("codec"),
                    source="upload" if job.upload else "folder")
        run.begin()
        try:
            return _encode(rt, job, run)
        finally:
            run.end()


def _encode(rt, job, run: Run) -> str:
    job_id = job.id
    spec = JobSpec.model_validate(job.spec)
    out_dir = rt.volume.output_dir(job_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{spec.name or job_id}{CODECS[spec.codec].suffix}"
    try:
        options = EncodeOptions.build(
            fps=spec.fps, codec=spec.codec, size=spec.size, fit=spec.fit, max_pixels=rt.settings.max_pixels,
            max_frame_bytes=rt.settings.max_frame_bytes,
        )
        result = encode(
            job.source, target, options,
            pattern=spec.source.pattern if spec.source else None,
            # Checked again here, not only at submit: a link can be made after that.
            root=rt.volume.inputs if spec.source else job.source,
            shown_as=spec.source.dir if spec.source else "the uploaded frames",
            poster=out_dir / "poster.jpg",
            # A re-run replaces the files atomically: a reader sees the old or the new.
            overwrite=True,
            progress=lambda done, total: _best_effort(rt.store.progress, job_id, done, total, run.token),
            should_cancel=run.should_stop,
            threads=rt.settings.decode_threads,
        )
    except CancelledError as exc:
        if run.reason == "hand_back":
            if rt.store.hand_back(job_id, run.token):
                enqueue(job_id)
                logs.event(log, "job_handed_back", f"job {job_id} handed back to the queue: its worker is stopping",
                           worker=run.worker)
            return "handed back"
        if run.reason == "lease_lost":
            logs.event(log, "job_lease_lost", f"job {job_id} stopped: its lease is no longer this run's",
                       level=logging.WARNING, worker=run.worker)
            return "lease lost"  # the job is someone else's now: touch nothing
        if run.reason == "time_limit":
            return _time_limit_exceeded(rt, job_id, run, out_dir)
        shutil.rmtree(out_dir, ignore_errors=True)
        if _finish(job_id, "cancelled", run, error=exc.to_dict()):
            logs.event(log, "job_cancelled", f"job {job_id} cancelled while running", worker=run.worker)
        return "cancelled"
    except SoftTimeLimitExceeded:  # the run was stuck where it could not check its limit
        return _time_limit_exceeded(rt, job_id, run, out_dir)
    except Img2VidError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        error = _client_error(exc, Path(job.source), spec.source.dir if spec.source else "the uploaded frames",
                              {out_dir: "the job's output folder", rt.volume.root: "the data volume"})
        if _finish(job_id, "failed", run, error=error):
            logs.event(log, "job_failed", f"job {job_id} failed: {error['message']}", level=logging.WARNING,
                       code=error["code"], file=error.get("path"), worker=run.worker)
        return "failed"
    except Exception as exc:  # a bug, not bad input: log it whole, tell the client briefly
        logs.event(log, "job_failed", f"job {job_id} failed unexpectedly: {exc}", level=logging.ERROR,
                   exc_info=True, code="internal_error", worker=run.worker)
        shutil.rmtree(out_dir, ignore_errors=True)
        # Its text may name the server's files or the library's source: the log has it.
        _finish(job_id, "failed", run, error={"code": "internal_error", "message": "the encoder failed unexpectedly; "
                                              f"the worker's log has the details (job {job_id})"})
        return "failed"

    recorded = _finish(job_id, "succeeded", run, result={
        "video": result.video.name, "frames": result.frames, "width": result.width, "height": result.height,
        "fps": result.fps, "codec": result.codec, "bytes": result.bytes,
        "duration_seconds": round(result.duration_seconds, 3),
        "bad_frames": len(result.bad_frames),
    }, timing=(result.seconds, result.frames_per_second))
    _best_effort(rt.store.record_rate, result.frames_per_second)
    if recorded:
        logs.event(log, "job_succeeded", f"job {job_id} succeeded: {result.frames} frames in {result.seconds:.2f} s "
                   f"({result.frames_per_second:.1f} frames/s), {result.bytes} bytes", worker=run.worker,
                   frames=result.frames, seconds=round(result.seconds, 3), fps=round(result.frames_per_second, 1),
                   bytes=result.bytes, codec=result.codec, width=result.width, height=result.height,
                   video=result.video.name)
    return "succeeded"


def _time_limit_exceeded(rt, job_id: str, run: Run, out_dir: Path) -> str:
    """Fail the job for good: a job that outran its limit would outrun it again."""
    shutil.rmtree(out_dir, ignore_errors=True)
    limit = rt.settings.task_time_limit
    error = TimeLimitError(f"the job ran longer than the time limit of {limit:,} s (IMG2VID_TASK_TIME_LIMIT)")
    if _finish(job_id, "failed", run, error=error.to_dict()):
        logs.event(log, "job_failed", f"job {job_id} failed: {error.message}", level=logging.WARNING,
                   code=error.code, worker=run.worker)
    return "failed"


def _client_error(exc: Img2VidError, source: Path, client_name: str, places: dict[Path, str]) -> dict:
    """The error as a client should read it: uploaded frames named as the client named
    them, the folder as the client named it (``client_name``), and the other server
    folders a library's words may hold by what they are (``places``): never a path."""
    body = exc.to_dict()
    names_file = source / NAMES_FILE
    if exc.path:
        saved = Path(exc.path).name
        original = saved
        if names_file.exists():
            original = json.loads(names_file.read_text()).get(saved, saved)
            body["message"] = body["message"].replace(saved, original)
        body["path"] = original
    message = body["message"].replace(str(source), client_name)
    for place, words in places.items():  # the deepest first: an output folder is inside the volume
        for form in {str(place), str(Path(place).resolve())}:
            message = message.replace(form, words)
    body["message"] = message
    return body


def _finish(job_id: str, state: str, run: Run, **outcome) -> bool:
    """Record the outcome under the run's lease; Redis may be restarting, so keep trying
    while the lease can still be ours. False when the lease is no longer this run's."""
    store = runtime().store
    deadline = time.monotonic() + run.lease
    while True:
        try:
            if store.finish(job_id, state, token=run.token, **outcome):
                return True
            logs.event(log, "job_outcome_refused", f"job {job_id}: outcome {state} not recorded, the lease is "
                       "no longer this run's", level=logging.WARNING, state=state)
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
