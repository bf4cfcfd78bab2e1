"""What a request asks of the jobs, for the API's views and the pages' own POST routes
alike: read one the caller may see, create one (JSON or upload, with Idempotency-Key),
cancel one, retry one. Each answers with the job as the API sends it."""

from __future__ import annotations

import logging

from flask import jsonify, request, url_for

from img2vid import logs
from img2vid.errors import (
    BadUploadError,
    IdempotencyKeyReusedError,
    Img2VidError,
    InvalidOptionError,
    JobNotFoundError,
    JobStateError,
    UnsupportedMediaTypeError,
)
from img2vid.job import Job, JobSpec
from img2vid.store.webhooks import send_if_due
from web import submit
from web.auth import job_owner, may_see
from web.bodies import json_body, upload_digests
from web.services import services
from web.uploads import save_archive, save_files

log = logging.getLogger(__name__)


def job_response(job: Job, status: int = 200, *, location: bool = False):
    resp = jsonify(job.api_json())
    resp.status_code = status
    if location:
        resp.headers["Location"] = url_for("api.get_job", job_id=job.id)
    return resp


def visible_job(job_id: str, *, with_eta: bool = False) -> Job:
    """The job, if this caller may see it: another owner's job is as unknown as a job
    that never was, so its id says nothing."""
    job = services().store.get(job_id, with_eta=with_eta)
    if job is None or not may_see(job.owner):
        raise JobNotFoundError(f"no job {job_id!r} (never created, deleted, or expired)")
    return job


def create_job():
    """Create one job from this request (JSON names a folder; an upload carries frames)."""
    svc = services()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
        raise InvalidOptionError("Idempotency-Key must be 1-200 printable characters")

    owner = job_owner()
    if request.mimetype == "multipart/form-data":
        form = {k: request.form[k] for k in request.form}
        spec = JobSpec.parse(
            form, upload=True, max_pixels=svc.settings.max_pixels, webhooks=svc.settings.webhook_policy
        )
        frames = request.files.getlist("frames")
        archive = request.files.get("archive")
        if bool(frames) == bool(archive):
            raise BadUploadError("upload either files in 'frames' or one zip in 'archive'", code="bad_upload")
        # The same job: the same spec and the same files, byte for byte, in the same order.
        identity = {"spec": spec.model_dump(mode="json"), "files": upload_digests()} if key else None
        if archive:
            save = lambda job_id: save_archive(archive, svc.storage, job_id, svc.settings)  # noqa: E731
        else:
            save = lambda job_id: save_files(frames, svc.storage, job_id, svc.settings)  # noqa: E731
    elif request.is_json:
        spec = JobSpec.parse(
            json_body(), upload=False, max_pixels=svc.settings.max_pixels, webhooks=svc.settings.webhook_policy
        )
        identity, save = {"spec": spec.model_dump(mode="json")}, None
    else:
        raise UnsupportedMediaTypeError("send JSON (application/json) or an upload (multipart/form-data)")

    fp = submit.fingerprint(identity) if key else ""
    if key and (held := svc.store.idempotency_key(key, owner)):
        return _replay(key, held, fp)

    job = submit.upload_job(svc, spec, owner, save) if save else submit.folder_job(svc, spec, owner)
    logs.bind_job(job.id)  # the request's log line names the job it made

    if key and (held := svc.store.claim_idempotency_key(key, job.id, fp, svc.settings.retention_seconds, owner)):
        submit.discard_unqueued(svc, job)  # another request with this key won the race
        return _replay(key, held, fp)
    try:
        submit.queue(svc, [job])
    except Img2VidError:
        if key:
            svc.store.release_idempotency_key(key, owner)
        raise
    # Read back once queued, so that the answer already says where in the queue it is.
    return job_response(visible_job(job.id, with_eta=True), 202, location=True)


def _replay(key: str, held: tuple[str, str], fp: str):
    job_id, held_fp = held
    if held_fp != fp:
        raise IdempotencyKeyReusedError(f"Idempotency-Key {key!r} was used before with a different request")
    resp = job_response(visible_job(job_id, with_eta=True), location=True)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def cancel_job(job_id: str):
    svc = services()
    visible_job(job_id)  # 404 for a job this caller may not see
    was = svc.store.cancel(job_id)
    if was is None:
        raise JobNotFoundError(f"no job {job_id!r}")
    if was not in ("queued", "running"):
        raise JobStateError(f"job {job_id} has already {was}")
    if was == "queued":
        logs.event(log, "job_cancelled", f"job {job_id} cancelled before it started", job_id=job_id)
    else:
        logs.event(log, "job_cancel_requested", f"job {job_id} asked to stop", job_id=job_id)
    # Finished here (queued, or a split job with no unit running): no worker's run
    # ends it, so its webhook goes from here (a running job's, from its worker).
    send_if_due(svc.store, svc.tasks, job_id, svc.settings.webhook_claim_seconds)
    job = visible_job(job_id, with_eta=True)
    if job.segments is not None and job.finished:  # cancelled while no segment ran: no run removes them
        svc.storage.remove_segments(job_id)
    return job_response(job, 202)


def retry_job(job_id: str):
    svc = services()
    job = submit.retry_job(svc, visible_job(job_id), job_owner())
    logs.event(log, "job_retried", f"job {job_id} tried again as job {job.id}", job_id=job.id, retry_of=job_id)
    submit.queue(svc, [job])
    return job_response(job, 202, location=True)
