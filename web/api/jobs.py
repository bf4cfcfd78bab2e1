"""Jobs: create (JSON or upload), batch, get, list, cancel, retry, files, delete."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from flask import jsonify, request, send_file, url_for

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
from ..errors import status_for
from ..jobs_json import job_json
from ..services import services
from ..uploads import save_archive, save_files
from . import api

log = logging.getLogger(__name__)

mimetypes.add_type("video/webm", ".webm")
mimetypes.add_type("video/x-matroska", ".mkv")

_SPEC_FORM_FIELDS = ("fps", "codec", "size", "fit", "name")


def _size(upload) -> int:
    """Bytes in an uploaded part (a part seldom says), without reading it."""
    stream = upload.stream
    here = stream.tell()
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(here)
    return size


def _created(rec: JobRecord, status: int = 202):
    resp = jsonify(job_json(rec))
    resp.status_code = status
    resp.headers["Location"] = url_for("api.get_job", job_id=rec.id)
    return resp


def _get(job_id: str, *, with_eta: bool = False) -> JobRecord:
    rec = services().store.get(job_id, with_eta=with_eta)
    if rec is None:
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

    if request.mimetype == "multipart/form-data":
        form = {k: request.form[k] for k in request.form}
        unknown = sorted(set(form) - set(_SPEC_FORM_FIELDS))
        if unknown:
            raise InvalidOptionError(f"unknown form field(s): {', '.join(unknown)}; known: {', '.join(_SPEC_FORM_FIELDS)}")
        spec = parse_spec(form, need_source=False)
        frames = request.files.getlist("frames")
        archive = request.files.get("archive")
        if bool(frames) == bool(archive):
            raise BadUploadError("upload either files in 'frames' or one zip in 'archive'", code="bad_upload")
        files = [archive] if archive else frames
        identity = {"spec": form, "files": [(f.filename, _size(f)) for f in files]}
        if archive:
            save = lambda folder: save_archive(archive, folder, svc.settings)  # noqa: E731
        else:
            save = lambda folder: save_files(frames, folder, svc.settings)  # noqa: E731
    elif request.is_json:
        body = request.get_json(silent=True)
        if body is None:
            raise InvalidOptionError("the body is not valid JSON")
        spec = parse_spec(body, need_source=True)
        identity, save = body, None
    else:
        raise UnsupportedMediaTypeError("send JSON (application/json) or an upload (multipart/form-data)")

    # What makes two requests "the same" for Idempotency-Key: the spec and the files.
    fp = submit.fingerprint(identity)
    if key and (held := svc.store.idempotency_key(key)):
        return _replay(key, held, fp)

    rec = submit.upload_job(svc, spec, save) if save else submit.folder_job(svc, spec)
    logs.bind_job(rec.id)  # the request's log line names the job it made

    if key and (held := svc.store.claim_idempotency_key(key, rec.id, fp, svc.settings.retention_seconds)):
        submit.discard_unqueued(svc, rec)  # another request with this key won the race
        return _replay(key, held, fp)
    try:
        submit.queue(svc, [rec])
    except Img2VidError:
        if key:
            svc.store.release_idempotency_key(key)
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
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list):
        raise InvalidOptionError('send {"jobs": [spec, …]}')
    specs = body["jobs"]
    if not specs:
        raise InvalidOptionError("the batch is empty")
    if len(specs) > svc.settings.max_batch:
        raise TooLargeError(f"{len(specs)} jobs is over the batch limit of {svc.settings.max_batch}", code="batch_too_large")
    items, records, seen = [], [], {}
    for index, raw in enumerate(specs):
        try:
            rec = submit.folder_job(svc, parse_spec(raw, need_source=True), seen)
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
    records, total = services().store.list(state, limit, offset)
    return jsonify(jobs=[job_json(r) for r in records], total=total, offset=offset, limit=limit)


def _whole(raw: str, name: str, low: int, high: int) -> int:
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidOptionError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


@api.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str):
    svc = services()
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
    rec = submit.retry_job(svc, _get(job_id))
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


@api.get("/jobs/<job_id>/video")
def get_video(job_id: str):
    rec = _get(job_id)
    path = _output_file(rec, "video")
    # conditional=True answers Range requests with 206 and If-None-Match with 304.
    return send_file(path, conditional=True, as_attachment=request.args.get("download") == "1",
                     download_name=path.name, max_age=3600)


@api.get("/jobs/<job_id>/poster.jpg")
def get_poster(job_id: str):
    return send_file(_output_file(_get(job_id), "poster"), mimetype="image/jpeg", conditional=True, max_age=3600)


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
