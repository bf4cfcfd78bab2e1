"""Turning validated requests into queued jobs: folder jobs, upload jobs, retries."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from img2vid import logs
from img2vid.discovery import discover
from img2vid.errors import Img2VidError, JobStateError, StorageFullError, TooLargeError
from img2vid.images import check_file_size
from img2vid.jobstore import JobRecord, new_job_id
from img2vid.models import JobSpec

from .services import Services

log = logging.getLogger(__name__)


def fingerprint(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def folder_job(svc: Services, spec: JobSpec, owner: str | None, seen: dict | None = None) -> JobRecord:
    """A queued-to-be job for a folder under the input root (not stored yet). ``seen``
    remembers folders already counted in this request: a batch often names one many times."""
    assert spec.source is not None
    key = (spec.source.dir, spec.source.pattern)
    if seen is not None and key in seen:
        folder, n = seen[key]
    else:
        folder = svc.volume.resolve_input(spec.source.dir)
        # Links out of the input root are refused here, by name, and again by the worker.
        found = discover(folder, spec.source.pattern, root=svc.volume.inputs, shown_as=spec.source.dir)
        n = len(found.frames)
        if n <= svc.settings.max_frames:
            for frame in found.frames:  # a refusal names the frame alone, not its server path
                check_file_size(frame, svc.settings.max_frame_bytes)
        if seen is not None:
            seen[key] = (folder, n)
    if n > svc.settings.max_frames:
        raise TooLargeError(f"{spec.source.dir} holds {n:,} frames, over the limit of {svc.settings.max_frames:,} "
                            "per job (IMG2VID_MAX_FRAMES)", code="too_many_frames")
    return JobRecord(id=new_job_id(), state="queued", spec=spec.model_dump(exclude_none=True), source=str(folder),
                     created_at=time.time(), frames_total=n, owner=owner)


def upload_job(svc: Services, spec: JobSpec, owner: str | None, save: Callable[[Path], int]) -> JobRecord:
    """A job whose frames ``save(folder)`` writes into uploads/<job>; cleaned up on failure."""
    job_id = new_job_id()
    folder = svc.volume.upload_dir(job_id)
    try:
        n = save(folder)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFullError("the server's disk is full; the upload was not kept") from None
        raise
    return JobRecord(id=job_id, state="queued", spec=spec.model_dump(exclude_none=True), source=str(folder),
                     created_at=time.time(), frames_total=n, upload=True, owner=owner)


def queue(svc: Services, records: list[JobRecord]) -> None:
    """Store the jobs, then send their tasks; if sending fails, take them back out."""
    if not records:
        return
    svc.store.create_many(records)
    for r in records:
        logs.event(log, "job_created", f"job {r.id} created: {r.frames_total} frames, {r.spec.get('codec')}",
                   job_id=r.id, source="upload" if r.upload else "folder", frames=r.frames_total,
                   codec=r.spec.get("codec"), fps=r.spec.get("fps"))
    try:
        svc.enqueue([r.id for r in records])
    except Img2VidError as exc:
        for r in records:
            _discard(svc, r)
            logs.event(log, "job_not_queued", f"job {r.id} removed again: {exc.message}", level=logging.WARNING,
                       job_id=r.id, code=exc.code)
        raise
    for r in records:
        logs.event(log, "job_queued", f"job {r.id} queued", job_id=r.id)


def _discard(svc: Services, rec: JobRecord) -> None:
    try:
        svc.store.delete(rec.id)
    except Exception:  # Redis is what failed; the record is harmless without a task
        pass
    discard_unqueued(svc, rec)


def discard_unqueued(svc: Services, rec: JobRecord) -> None:
    """Remove the frames uploaded for a job that was never stored."""
    if rec.upload:
        shutil.rmtree(rec.source, ignore_errors=True)


def retry_job(svc: Services, old: JobRecord, owner: str | None) -> JobRecord:
    if not old.finished:
        raise JobStateError(f"job {old.id} is {old.state}; only a finished job can be retried")
    spec = JobSpec.model_validate(old.spec)
    if not old.upload:
        return folder_job(svc, spec, owner)

    def copy_frames(dest: Path) -> int:
        src = Path(old.source)
        if not src.is_dir():
            raise JobStateError(f"the frames uploaded for job {old.id} are gone; upload them again")
        # Hard links: a retry costs no space, and deleting the old job keeps these.
        shutil.copytree(src, dest, copy_function=os.link)
        return old.frames_total

    return upload_job(svc, spec, owner, copy_frames)
