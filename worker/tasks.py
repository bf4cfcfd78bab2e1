"""The Celery task: a thin shell that takes the job's lease (or the next unit of a split
job's: split.py), calls the engine, and records the outcome (outcomes.py)."""

from __future__ import annotations

import logging
import os

from img2vid import logs
from img2vid.engine import encode
from img2vid.engine.codecs import CODECS
from img2vid.engine.memory import give_back
from img2vid.job import Job, Result
from img2vid.store import ENCODE_TASK, Unit
from worker import outcomes, split
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
        # Not queued: it may be a split job with a segment (or its join) waiting.
        unit = Unit("whole", job) if job else rt.store.take(job_id, run.token, worker, os.getpid(), run.lease)
        if unit is None:
            logs.event(
                log,
                "job_message_skipped",
                f"job {job_id} is not queued (finished, cancelled, running "
                "elsewhere, or gone): its message does nothing",
                worker=worker,
            )
            return "skipped"
        if unit.kind == "whole":
            logs.event(
                log,
                "job_started",
                f"job {job_id} started (attempt {unit.job.attempts}) on {worker}",
                attempt=unit.job.attempts,
                worker=worker,
                frames=unit.job.frames_total,
                codec=unit.job.spec.codec,
                source="upload" if unit.job.upload else "folder",
            )
        run.unit = unit.lease
        run.begin()
        try:
            return _encode(rt, unit.job, run) if unit.kind == "whole" else split.run_unit(rt, unit, run)
        finally:
            run.end()
            give_back()  # what the job's threads freed, to the system


def _encode(rt: Runtime, job: Job, run: Run) -> str:
    spec, storage = job.spec, rt.storage
    try:
        # Looked up again here, not only at submit: a link can be made after that.
        frames = storage.frames_of(job, stop=run.should_stop)
        spans = split.spans_of(rt, job, len(frames.frames))
        if len(spans) > 1:
            return split.split_and_run(rt, job, run, frames, spans)
        with storage.output_slot(job, CODECS[spec.codec].suffix) as slot:
            encoded = encode(
                frames,
                slot.video,
                spec.encode_options(max_pixels=rt.settings.max_pixels, max_frame_bytes=rt.settings.max_frame_bytes),
                poster=slot.poster,
                # A re-run replaces the files atomically: a reader sees the old or the new.
                overwrite=True,
                progress=lambda done, total: outcomes.best_effort(rt.store.progress, job.id, done, total, run.token),
                should_cancel=run.should_stop,
                threads=rt.settings.decode_threads,
            )
            slot.publish(stop=run.should_stop)
    except BaseException as exc:
        return outcomes.ended_by(rt, job, run, exc)

    result = Result(
        video=encoded.video.name,
        frames=encoded.frames,
        width=encoded.width,
        height=encoded.height,
        fps=encoded.fps,
        codec=encoded.codec,
        bytes=encoded.bytes,
        duration_seconds=round(encoded.duration_seconds, 3),
        bad_frames=len(encoded.bad_frames),
    )
    outcomes.succeeded(rt, job, run, result, encoded.seconds)
    return "succeeded"
