"""Jobs: create (JSON or upload), batch, get, list, cancel, retry, files, delete."""

from __future__ import annotations

import logging
import mimetypes

from flask import jsonify, request

from img2vid import logs
from img2vid.errors import (
    Img2VidError,
    InvalidOptionError,
    JobNotFoundError,
    JobStateError,
    TooLargeError,
    UnsupportedMediaTypeError,
)
from img2vid.job import STATES, ErrorBody, Job, JobSpec
from img2vid.webhook_url import WebhookPolicy, check_url
from web import actions, submit
from web.api.blueprint import api
from web.api.schemas import Accepted, BatchResponse, JobList, Rejected
from web.auth import job_owner, owner_filter
from web.bodies import json_body
from web.downloads import send_stored
from web.errors import status_for
from web.ratelimit import creates_jobs
from web.services import services

log = logging.getLogger(__name__)

mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("video/x-matroska", ".mkv")


@api.post("/jobs")
@creates_jobs
def create_job():
    return actions.create_job()


@api.post("/batch")
@creates_jobs
def create_batch():
    svc = services()
    if not request.is_json:
        raise UnsupportedMediaTypeError('send JSON (application/json): {"jobs": [spec, …]}')
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise InvalidOptionError('send {"jobs": [spec, …]}')
    specs = body["jobs"]
    if not specs:
        raise InvalidOptionError("the batch is empty")
    policy = svc.settings.webhook_policy
    if len(specs) > svc.settings.max_batch:
        raise TooLargeError(
            f"{len(specs):,} jobs is over the batch limit of {svc.settings.max_batch:,} (IMG2VID_MAX_BATCH)",
            code="batch_too_large",
        )
    items: list[Accepted | Rejected] = []
    jobs: list[Job] = []
    seen: dict = {}
    owner = job_owner()
    for index, raw in enumerate(_with_default_webhook(specs, body.get("webhook_url"), policy)):
        try:
            spec = JobSpec.parse(raw, upload=False, max_pixels=svc.settings.max_pixels, webhooks=policy)
            job = submit.folder_job(svc, spec, owner, seen)
        except Img2VidError as exc:
            items.append(Rejected(index=index, error=ErrorBody(**exc.to_dict()), status=status_for(exc)))
        else:
            jobs.append(job)
            items.append(Accepted(index=index, id=job.id, job=job))
    submit.queue(svc, jobs)
    answer = BatchResponse(accepted=len(jobs), rejected=len(specs) - len(jobs), jobs=items)
    resp = jsonify(answer.model_dump(mode="json"))
    resp.status_code = 202 if jobs else 422
    return resp


def _with_default_webhook(specs: list, default, policy: WebhookPolicy) -> list:
    """The batch's specs, each that names no webhook_url given the batch's ``default``;
    a default that is wrong refuses the whole batch (400), not each job alike."""
    if default is None or default == "":
        return specs
    policy.check(check_url(default))
    return [
        {**raw, "webhook_url": default} if isinstance(raw, dict) and raw.get("webhook_url") in (None, "") else raw
        for raw in specs
    ]


@api.get("/jobs/<job_id>")
def get_job(job_id: str):
    return actions.job_response(actions.visible_job(job_id, with_eta=True))


@api.get("/jobs")
def list_jobs():
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise InvalidOptionError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    limit = _whole(request.args.get("limit", "50"), "limit", 1, 500)
    offset = _whole(request.args.get("offset", "0"), "offset", 0, 1_000_000)
    jobs, total = services().store.list(state, limit, offset, owner=owner_filter())
    return jsonify(JobList(jobs=jobs, total=total, offset=offset, limit=limit).model_dump(mode="json"))


def _whole(raw: str, name: str, low: int, high: int) -> int:
    # isascii: "²" is a digit to str.isdigit, but not to int().
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidOptionError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


@api.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    return actions.cancel_job(job_id)


@api.post("/jobs/<job_id>/retry")
@creates_jobs
def retry_job(job_id: str):
    return actions.retry_job(job_id)


def _output_file(job: Job, which: str):
    """The job's ``video`` or ``poster``; 409 before the job has succeeded."""
    if job.state != "succeeded" or not job.result:
        raise JobStateError(f"job {job.id} is {job.state}; there is no {which} yet")
    stored = services().storage.output_file(job, which)
    if stored is None:
        raise JobNotFoundError(f"the files of job {job.id} are gone")
    return stored


@api.get("/jobs/<job_id>/video")
def get_video(job_id: str):
    stored = _output_file(actions.visible_job(job_id), "video")
    return send_stored(stored, as_attachment=request.args.get("download") == "1")


@api.get("/jobs/<job_id>/poster.jpg")
def get_poster(job_id: str):
    return send_stored(_output_file(actions.visible_job(job_id), "poster"), mimetype="image/jpeg")


@api.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    svc = services()
    job = actions.visible_job(job_id)
    if not job.finished:
        raise JobStateError(f"job {job_id} is {job.state}; cancel it first")
    svc.storage.remove_job_files(job_id)
    svc.store.delete(job_id)
    logs.event(log, "job_deleted", f"job {job_id} ({job.state}) deleted with its files", job_id=job_id, state=job.state)
    return "", 204
