"""Turning valid specs into queued jobs: folder jobs, upload jobs, retries."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import time
from collections.abc import Callable

from img2vid import logs
from img2vid.engine.images import check_frame_bytes
from img2vid.errors import Img2VidError, JobStateError, StorageFullError, TooLargeError
from img2vid.job import Job, JobSpec
from img2vid.store import new_job_id
from web.services import Services

log = logging.getLogger(__name__)


def fingerprint(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def folder_job(svc: Services, spec: JobSpec, owner: str | None, seen: dict | None = None) -> Job:
    """A to-be-queued job for a folder under the input root (not stored yet). ``seen``
    remembers folders already counted in this request: a batch often names one many times."""
    assert spec.source is not None
    key = (spec.source.dir, spec.source.pattern)
    if seen is not None and key in seen:
        n = seen[key]
    else:
        # Links out of the input root are refused here, by name, and again by the worker.
        found = svc.storage.input_frames(spec.source.dir, spec.source.pattern)
        n = len(found.frames)
        if n <= svc.settings.max_frames:
            for frame in found.frames:  # a refusal names the frame alone, not its server path
                check_frame_bytes(frame.name, frame.size(), svc.settings.max_frame_bytes)
        if seen is not None:
            seen[key] = n
    if n > svc.settings.max_frames:
        raise TooLargeError(
            f"{spec.source.dir} holds {n:,} frames, over the limit of {svc.settings.max_frames:,} "
            "per job (IMG2VID_MAX_FRAMES)",
            code="too_many_frames",
        )
    return Job(id=new_job_id(), state="queued", spec=spec, created_at=time.time(), frames_total=n, owner=owner)


def upload_job(svc: Services, spec: JobSpec, owner: str | None, save: Callable[[str], int]) -> Job:
    """A job whose frames ``save(job_id)`` stores as that job's upload, returning how
    many; what it stored is removed again on failure."""
    job_id = new_job_id()
    try:
        n = save(job_id)
    except BaseException as exc:
        svc.storage.remove_upload(job_id)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFullError("the server's disk is full; the upload was not kept") from None
        raise
    return Job(id=job_id, state="queued", spec=spec, created_at=time.time(), frames_total=n, upload=True, owner=owner)


def queue(svc: Services, jobs: list[Job]) -> None:
    """Store the jobs, then send their tasks; if sending fails, take them back out."""
    if not jobs:
        return
    svc.store.create_many(jobs)
    for j in jobs:
        logs.event(
            log,
            "job_created",
            f"job {j.id} created: {j.frames_total} frames, {j.spec.codec}",
            job_id=j.id,
            source="upload" if j.upload else "folder",
            frames=j.frames_total,
            codec=j.spec.codec,
            fps=j.spec.fps,
        )
    try:
        svc.tasks.send_new([j.id for j in jobs])
    except Img2VidError as exc:
        for j in jobs:
            _discard(svc, j)
            logs.event(
                log,
                "job_not_queued",
                f"job {j.id} removed again: {exc.message}",
                level=logging.WARNING,
                job_id=j.id,
                code=exc.code,
            )
        raise
    for j in jobs:
        logs.event(log, "job_queued", f"job {j.id} queued", job_id=j.id)


def _discard(svc: Services, job: Job) -> None:
    # Redis is what failed; the record is harmless without a task.
    with contextlib.suppress(Exception):
        svc.store.delete(job.id)
    discard_unqueued(svc, job)


def discard_unqueued(svc: Services, job: Job) -> None:
    """Remove the frames uploaded for a job that was never stored."""
    if job.upload:
        svc.storage.remove_upload(job.id)


def retry_job(svc: Services, old: Job, owner: str | None) -> Job:
    if not old.finished:
        raise JobStateError(f"job {old.id} is {old.state}; only a finished job can be retried")
    if not old.upload:
        return folder_job(svc, old.spec, owner)

    def copy_frames(job_id: str) -> int:
        if not svc.storage.copy_upload(old.id, job_id):
            raise JobStateError(f"the frames uploaded for job {old.id} are gone; upload them again")
        return old.frames_total

    return upload_job(svc, old.spec, owner, copy_frames)
