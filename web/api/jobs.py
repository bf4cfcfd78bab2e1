"""Jobs: create (JSON or upload), batch, get, list, cancel, retry, files, delete."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from flask import jsonify, request, send_file, url_for
from werkzeug.http import parse_range_header

from img2vid import logs
from img2vid.errors import (
    BadUploadError,
    IdempotencyKeyReusedError,
    Img2VidError,
    InvalidOptionError,
    JobNotFoundError,
    JobStateError,
    TooLargeError,
    UnsupportedMediaTypeError,
)
from img2vid.jobstore import JobRecord
from img2vid.models import STATES, parse_spec

from .. import submit
from ..auth import job_owner, may_see, owner_filter
from ..bodies import json_body, upload_digests
from ..errors import status_for
from ..jobs_json import job_json
from ..services import services
from ..uploads import save_archive, save_files
from . import api

log = logging.getLogger(__name__)

mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("video/x-matroska", ".mkv")

_SPEC_FORM_FIELDS = ("fps", "codec", "size", "fit", "name")


def _created(rec: JobRecord, status: int = 202):
    resp = jsonify(job_json(rec))
    resp.status_code = status
    resp.headers["Location"] = url_for("api.get_job", job_id=rec.id)
    return resp


def _get(job_id: str, *, with_eta: bool = False) -> JobRecord:
    """The job, if this caller may see it: another owner's job is as unknown as a job
    that never was, so its id says nothing."""
    rec = services().store.get(job_id, with_eta=with_eta)
    if rec is None or not may_see(rec.owner):
        raise JobNotFoundError(f"no job {job_id!r} (never created, deleted, or expired)")
    return rec


@api.post("/jobs")
def create_job():
    return create_job_from_request()


def create_job_from_request():
    """Create one job from this request (JSON or upload); the web pages call it too."""
    svc = services()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
        raise InvalidOptionError("Idempotency-Key must be 1-200 printable characters")

    owner = job_owner()
    if request.mimetype == "multipart/form-data":
        form = {k: request.form[k] for k in request.form}
        unknown = sorted(repr(k) for k in set(form) - set(_SPEC_FORM_FIELDS))
        if unknown:
            raise InvalidOptionError(f"unknown form field(s): {', '.join(unknown)}; known: {', '.join(_SPEC_FORM_FIELDS)}")
        spec = parse_spec(form, need_source=False, max_pixels=svc.settings.max_pixels)
        frames = request.files.getlist("frames")
        archive = request.files.get("archive")
        if bool(frames) == bool(archive):
            raise BadUploadError("upload either files in 'frames' or one zip in 'archive'", code="bad_upload")
        # The same job: the same spec and the same files, byte for byte, in the same order.
        identity = {"spec": spec.model_dump(), "files": upload_digests()} if key else None
        if archive:
            save = lambda folder: save_archive(archive, folder, svc.settings)  # noqa: E731
        else:
            save = lambda folder: save_files(frames, folder, svc.settings)  # noqa: E731
    elif request.is_json:
        spec = parse_spec(json_body(), need_source=True, max_pixels=svc.settings.max_pixels)
        identity, save = {"spec": spec.model_dump()}, None
    else:
        raise UnsupportedMediaTypeError("send JSON (application/json) or an upload (multipart/form-data)")

    fp = submit.fingerprint(identity) if key else ""
    if key and (held := svc.store.idempotency_key(key, owner)):
        return _replay(key, held, fp)

    rec = submit.upload_job(svc, spec, owner, save) if save else submit.folder_job(svc, spec, owner)
    logs.bind_job(rec.id)  # the request's log line names the job it made

    if key and (held := svc.store.claim_idempotency_key(key, rec.id, fp, svc.settings.retention_seconds, owner)):
        submit.discard_unqueued(svc, rec)  # another request with this key won the race
        return _replay(key, held, fp)
    try:
        submit.queue(svc, [rec])
    except Img2VidError:
        if key:
            svc.store.release_idempotency_key(key, owner)
        raise
    # Read back once queued, so that the answer already says where in the queue it is.
    return _created(_get(rec.id, with_eta=True))


def _replay(key: str, held: tuple[str, str], fp: str):
    job_id, held_fp = held
    if held_fp != fp:
        raise IdempotencyKeyReusedError(f"Idempotency-Key {key!r} was used before with a different request")
    resp = jsonify(job_json(_get(job_id, with_eta=True)))
    resp.headers["Location"] = url_for("api.get_job", job_id=job_id)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


@api.post("/batch")
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
    if len(specs) > svc.settings.max_batch:
        raise TooLargeError(f"{len(specs):,} jobs is over the batch limit of {svc.settings.max_batch:,} "
                            "(IMG2VID_MAX_BATCH)", code="batch_too_large")
    items, records, seen = [], [], {}
    owner = job_owner()
    for index, raw in enumerate(specs):
        try:
            spec = parse_spec(raw, need_source=True, max_pixels=svc.settings.max_pixels)
            rec = submit.folder_job(svc, spec, owner, seen)
        except Img2VidError as exc:
            items.append({"index": index, "error": exc.to_dict(), "status": status_for(exc)})
        else:
            records.append(rec)
            items.append({"index": index, "id": rec.id, "job": job_json(rec)})
    submit.queue(svc, records)
    accepted = len(records)
    resp = jsonify(accepted=accepted, rejected=len(specs) - accepted, jobs=items)
    resp.status_code = 202 if accepted else 422
    return resp


@api.get("/jobs/<job_id>")
def get_job(job_id: str):
    return jsonify(job_json(_get(job_id, with_eta=True)))


@api.get("/jobs")
def list_jobs():
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise InvalidOptionError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    limit = _whole(request.args.get("limit", "50"), "limit", 1, 500)
    offset = _whole(request.args.get("offset", "0"), "offset", 0, 1_000_000)
    records, total = services().store.list(state, limit, offset, owner=owner_filter())
    return jsonify(jobs=[job_json(r) for r in records], total=total, offset=offset, limit=limit)


def _whole(raw: str, name: str, low: int, high: int) -> int:
    # isascii: "²" is a digit to str.isdigit, but not to int().
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidOptionError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


@api.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    svc = services()
    _get(job_id)  # 404 for a job this caller may not see
    was = svc.store.cancel(job_id)
    if was is None:
        raise JobNotFoundError(f"no job {job_id!r}")
    if was not in ("queued", "running"):
        raise JobStateError(f"job {job_id} has already {was}")
    if was == "queued":
        logs.event(log, "job_cancelled", f"job {job_id} cancelled before it started", job_id=job_id)
    else:
        logs.event(log, "job_cancel_requested", f"job {job_id} asked to stop", job_id=job_id)
    resp = jsonify(job_json(_get(job_id, with_eta=True)))
    resp.status_code = 202
    return resp


@api.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    svc = services()
    rec = submit.retry_job(svc, _get(job_id), job_owner())
    logs.event(log, "job_retried", f"job {job_id} tried again as job {rec.id}", job_id=rec.id, retry_of=job_id)
    submit.queue(svc, [rec])
    return _created(rec)


def _output_file(rec: JobRecord, which: str) -> Path:
    """The job's ``video`` or ``poster`` file; 409 before the job has succeeded."""
    if rec.state != "succeeded" or not rec.result:
        raise JobStateError(f"job {rec.id} is {rec.state}; there is no {which} yet")
    name = rec.result["video"] if which == "video" else "poster.jpg"
    path = services().volume.output_dir(rec.id) / name
    if not path.is_file():
        raise JobNotFoundError(f"the files of job {rec.id} are gone")
    return path


def _ignore_unusable_range() -> None:
    """Drop a Range header that is not one well-formed byte range: RFC 9110 lets a server
    ignore what it cannot use and send the whole file (200), which every client can read;
    Werkzeug would answer 416 instead. A well-formed range past the end stays a 416."""
    header = request.environ.get("HTTP_RANGE")
    if header is not None:
        parsed = parse_range_header(header)
        if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
            del request.environ["HTTP_RANGE"]


@api.get("/jobs/<job_id>/video")
def get_video(job_id: str):
    rec = _get(job_id)
    path = _output_file(rec, "video")
    _ignore_unusable_range()
    # conditional=True answers Range requests with 206 and If-None-Match with 304.
    return send_file(path, conditional=True, as_attachment=request.args.get("download") == "1",
                     download_name=path.name, max_age=3600)


@api.get("/jobs/<job_id>/poster.jpg")
def get_poster(job_id: str):
    path = _output_file(_get(job_id), "poster")
    _ignore_unusable_range()
    return send_file(path, mimetype="image/jpeg", conditional=True, max_age=3600)


@api.delete("/jobs/<job_id>")
def delete_job(job_id: str):
    svc = services()
    rec = _get(job_id)
    if not rec.finished:
        raise JobStateError(f"job {job_id} is {rec.state}; cancel it first")
    svc.volume.remove_job_files(job_id)
    svc.store.delete(job_id)
    logs.event(log, "job_deleted", f"job {job_id} ({rec.state}) deleted with its files", job_id=job_id, state=rec.state)
    return "", 204
