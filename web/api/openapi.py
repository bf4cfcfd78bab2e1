"""The OpenAPI 3 document, generated from the models the API answers with and reads:
requests in their validation schema, answers in their serialization schema.

Complete enough for a generated client: every operation has a stable ``operationId``
and a tag, every header a route reads or sends is declared (``Idempotency-Key``,
``Location``, ``Idempotent-Replayed``, ``Range`` and ``Content-Range``, ``Retry-After``,
``Last-Event-ID``), and every answer has its media type. tests/test_openapi.py fails
for a route of the API (or of the health blueprint) that the document leaves out."""

from __future__ import annotations

import mimetypes
from functools import lru_cache

from flask import current_app, jsonify
from pydantic.json_schema import models_json_schema

from img2vid import __version__
from img2vid.engine.codecs import CODECS
from img2vid.job import STATES, Job, JobSpec
from img2vid.store.events import TYPES as EVENT_TYPES
from web.api.blueprint import api
from web.api.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    InputList,
    JobList,
    Readiness,
)
from web.policy import open_to_all

_REQUESTS = (JobSpec, BatchRequest)
_ANSWERS = (Job, JobList, BatchResponse, ErrorResponse, InputList, Health, Readiness)
_TEMPLATE = "#/components/schemas/{model}"

TAGS = [
    {"name": name, "description": words}
    for name, words in (
        (
            "jobs",
            "Create jobs (from a folder, an upload or a batch), follow, cancel, retry and delete them, "
            "and fetch a finished job's video and poster.",
        ),
        (
            "events",
            "Job events as Server-Sent Events (text/event-stream): one job's, ending with its outcome, "
            "or every job the caller may see. Reconnect with Last-Event-ID.",
        ),
        ("inputs", "The folders under the input root that folder jobs read."),
        ("meta", "This document, liveness, readiness and Prometheus metrics."),
    )
]

# Served without a token even when IMG2VID_API_TOKENS is set (their views are open_to_all).
OPEN = frozenset({"getOpenApi", "getHealth", "getReadiness"})
# Never rate limited (@unlimited, web/ratelimit.py): no 429.
UNLIMITED = frozenset({"getHealth", "getReadiness"})
# Methods a browser page of another site is refused (web/security.py): 403 without a token.
_WRITES = frozenset({"post", "put", "patch", "delete"})


def _schemas() -> tuple[dict[str, dict], dict]:
    """({model name: its $ref}, the components' schemas)."""
    refs, defs = models_json_schema(
        [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _ANSWERS], ref_template=_TEMPLATE
    )
    return {model.__name__: ref for (model, _), ref in refs.items()}, defs.get("$defs", defs)


_REFS, _COMPONENTS = _schemas()


def _ref(name: str) -> dict:
    return _REFS[name]


def _json(name: str, description: str, **extra) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}, **extra}


_ERROR_WORDS = {
    400: "invalid request (the error's code says which value)",
    403: "cross_site_request: a change sent from another site's page without a bearer token",
    404: "job_not_found: no such job, or not one this caller may see",
    409: "job_state: the job is in the wrong state for this",
    413: "over a limit (frames, bytes, batch size); the message names the setting",
    415: "unsupported_media_type",
    416: "range_not_satisfiable: the range is past the end of the file",
    422: "no_frames, or idempotency_key_reused",
    503: "redis_unavailable or storage_unavailable: Redis or the object store cannot be reached",
    507: "storage_full: no room left for the upload",
}


def _errors(*codes: int, **words: str) -> dict:
    """ErrorResponse answers for ``codes``; ``words`` (``e404="..."``) says one in other words."""
    return {str(c): _json("ErrorResponse", words.get(f"e{c}", _ERROR_WORDS[c])) for c in codes}


def _header(description: str, schema: dict | None = None) -> dict:
    return {"description": description, "schema": schema or {"type": "string"}}


def _in_header(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "header", "required": False, **_header(description, schema)}


LOCATION = _header("the job's URL, /api/v1/jobs/{id}", {"type": "string", "format": "uri-reference"})
IDEMPOTENCY_KEY = _in_header(
    "Idempotency-Key",
    "a key of the client's: the same request again with it is answered with the job it made "
    "(200, Idempotent-Replayed: true); the same key with another request is 422 idempotency_key_reused",
    {"type": "string", "minLength": 1, "maxLength": 200},
)
LAST_EVENT_ID = _in_header(
    "Last-Event-ID",
    "the id of the last event this follower saw (an EventSource sends it when it reconnects): "
    "the stream starts with the events after it",
)
_RANGE_HEADERS = [
    _in_header(
        "Range",
        "one byte range (bytes=0-1023, bytes=1024-, bytes=-512): 206 with that part. A Range that is not "
        "one well-formed byte range is ignored (200, the whole file); one past the end is 416",
        {"type": "string", "pattern": "^bytes="},
    ),
    _in_header("If-Range", "an ETag or date: the range is sent only if the file is still that one"),
    _in_header("If-None-Match", "an ETag the client holds: 304 while the file is still that one"),
]
JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{16,24}$"},
}

_BINARY = {"type": "string", "format": "binary"}


def _video_types() -> list[str]:
    """The media types of the containers the service writes (each codec's own suffix)."""
    return sorted({mimetypes.guess_type(f"video{c.suffix}")[0] or "application/octet-stream" for c in CODECS.values()})


def _file_answers(media_types: list[str], what: str) -> dict:
    """A stored file's answers: whole, a range of it, unchanged, or a redirect to the store."""
    content = {t: {"schema": _BINARY} for t in media_types}
    cached = {
        "ETag": _header("the file's entity tag"),
        "Last-Modified": _header("when the file was written"),
        "Cache-Control": _header("public, max-age=3600"),
    }
    return {
        "200": {
            "description": what,
            "headers": {
                "Accept-Ranges": _header("bytes"),
                "Content-Disposition": _header("attachment; filename=... (with ?download=1)"),
                **cached,
            },
            "content": content,
        },
        "206": {
            "description": f"the byte range asked for of {what}",
            "headers": {
                "Content-Range": _header("bytes <first>-<last>/<size>", {"type": "string", "pattern": "^bytes "}),
                **cached,
            },
            "content": content,
        },
        "302": {
            "description": "S3 mode with IMG2VID_S3_PRESIGN_SECONDS: a short-lived presigned URL at the store",
            "headers": {"Location": _header("the presigned URL", {"type": "string", "format": "uri"})},
        },
        "304": {"description": "not modified (If-None-Match)", "headers": cached},
        "416": _json(
            "ErrorResponse",
            _ERROR_WORDS[416],
            headers={"Content-Range": _header("bytes */<size>", {"type": "string", "pattern": "^bytes \\*/"})},
        ),
    }


def _event_stream(one_job: bool) -> dict:
    what = "this job's events, ending after its outcome" if one_job else "every job's event, endless"
    return {
        "description": (
            f"Server-Sent Events: {what}. Each event is `id: <event id>`, `event: <type>` (one of "
            f"{', '.join(EVENT_TYPES)}) and `data: <the Job as GET /api/v1/jobs/{{id}} answers, one line of "
            "JSON>`. The stream opens with `retry: 2000`; a comment line (`: keepalive`) comes when nothing "
            "has for IMG2VID_EVENTS_HEARTBEAT_SECONDS."
            + (" Without Last-Event-ID the first event is the job as it is now." if one_job else "")
        ),
        "headers": {
            "Cache-Control": _header("no-cache"),
            "X-Accel-Buffering": _header("no (a buffering proxy would hold the events back)"),
        },
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }


_STREAMS_FULL = "too_many_streams: this web process has IMG2VID_MAX_EVENT_STREAMS streams open"

# What a client (or a fuzzer) can do next with the id an answer holds. No link leads
# to the event streams: followed, they would not end.
_JOB_LINKS = {
    name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}}
    for name, op in [
        ("Get", "getJob"),
        ("Cancel", "cancelJob"),
        ("Retry", "retryJob"),
        ("Video", "getJobVideo"),
        ("Poster", "getJobPoster"),
        ("Delete", "deleteJob"),
    ]
}


def _paths(upload: dict) -> dict:
    created = {"Location": LOCATION}
    return {
        "/api/v1/jobs": {
            "post": {
                "operationId": "createJob",
                "tags": ["jobs"],
                "summary": "Create a job from a folder under the input root, or from uploaded frames",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("JobSpec")},
                        "multipart/form-data": {"schema": upload},
                    },
                },
                "responses": {
                    "202": _json("Job", "queued", headers=created, links=_JOB_LINKS),
                    "200": _json(
                        "Job",
                        "an Idempotency-Key replay: the job the first request with that key made",
                        headers={
                            **created,
                            "Idempotent-Replayed": _header("true", {"type": "string", "enum": ["true"]}),
                        },
                        links=_JOB_LINKS,
                    ),
                    **_errors(400, 413, 415, 422, 503, 507),
                },
            },
            "get": {
                "operationId": "listJobs",
                "tags": ["jobs"],
                "summary": "List jobs, newest first",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0},
                    },
                ],
                "responses": {"200": _json("JobList", "jobs"), **_errors(400, 503)},
            },
        },
        "/api/v1/batch": {
            "post": {
                "operationId": "createBatch",
                "tags": ["jobs"],
                "summary": "Create many folder jobs; each item is queued or refused on its own",
                "description": "No Location: the answer names each job queued (jobs[].id).",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BatchRequest")}},
                },
                "responses": {
                    "202": _json("BatchResponse", "at least one queued"),
                    "422": _json("BatchResponse", "none queued"),
                    **_errors(400, 413, 415, 503, e400="invalid request, or a refused default webhook_url"),
                },
            }
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "getJob",
                "tags": ["jobs"],
                "summary": "A job",
                "responses": {"200": _json("Job", "the job"), **_errors(404, 503)},
            },
            "delete": {
                "operationId": "deleteJob",
                "tags": ["jobs"],
                "summary": "Remove a finished job and its files",
                "responses": {"204": {"description": "removed"}, **_errors(404, 409, 503)},
            },
        },
        "/api/v1/jobs/{job_id}/cancel": {
            "parameters": [JOB_ID],
            "post": {
                "operationId": "cancelJob",
                "tags": ["jobs"],
                "summary": "Stop a queued or running job",
                "responses": {"202": _json("Job", "cancelled or stopping"), **_errors(404, 409, 503)},
            },
        },
        "/api/v1/jobs/{job_id}/retry": {
            "parameters": [JOB_ID],
            "post": {
                "operationId": "retryJob",
                "tags": ["jobs"],
                "summary": "A new job with the same spec",
                "responses": {
                    "202": _json("Job", "the new job, queued", headers=created, links=_JOB_LINKS),
                    **_errors(400, 404, 409, 413, 422, 503, 507),
                },
            },
        },
        "/api/v1/jobs/{job_id}/video": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "getJobVideo",
                "tags": ["jobs"],
                "summary": "The video (Range supported)",
                "parameters": [
                    {
                        "name": "download",
                        "in": "query",
                        "description": "1: as an attachment (Content-Disposition)",
                        "schema": {"type": "string", "enum": ["1"]},
                    },
                    *_RANGE_HEADERS,
                ],
                "responses": {**_file_answers(_video_types(), "the video"), **_errors(404, 409, 503)},
            },
        },
        "/api/v1/jobs/{job_id}/poster.jpg": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "getJobPoster",
                "tags": ["jobs"],
                "summary": "The first frame as JPEG (Range supported)",
                "parameters": list(_RANGE_HEADERS),
                "responses": {**_file_answers(["image/jpeg"], "the poster"), **_errors(404, 409, 503)},
            },
        },
        "/api/v1/jobs/{job_id}/events": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "getJobEvents",
                "tags": ["events"],
                "summary": "Follow one job: its events until its outcome",
                "parameters": [LAST_EVENT_ID],
                "responses": {
                    "200": _event_stream(one_job=True),
                    "204": {
                        "description": "the follower (Last-Event-ID) has seen the job's outcome: nothing more "
                        "will come (an EventSource does not reconnect after a 204)"
                    },
                    **_errors(404, 503, e503=f"{_STREAMS_FULL}; or redis_unavailable"),
                },
            },
        },
        "/api/v1/events": {
            "get": {
                "operationId": "getEvents",
                "tags": ["events"],
                "summary": "Follow every job the caller may see (an admin's or an open service's: all)",
                "parameters": [LAST_EVENT_ID],
                "description": "Redis is first asked once the stream has begun: while it cannot be reached, "
                "a stream without Last-Event-ID ends after its first line (no 503); one with it beats on.",
                "responses": {"200": _event_stream(one_job=False), **_errors(503, e503=_STREAMS_FULL)},
            },
        },
        "/api/v1/inputs": {
            "get": {
                "operationId": "listInputs",
                "tags": ["inputs"],
                "summary": "Folders under the input root with their frame counts",
                "parameters": [
                    {
                        "name": "dir",
                        "in": "query",
                        "description": "a folder under the input root; default the root",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": _json("InputList", "folders"), **_errors(400, 503)},
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "tags": ["meta"],
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "the OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "getHealth",
                "tags": ["meta"],
                "summary": "Liveness: the web process answers",
                "responses": {"200": _json("Health", "alive")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "getReadiness",
                "tags": ["meta"],
                "summary": "Readiness: Redis reachable, the storage usable and at least one worker alive",
                "responses": {
                    "200": _json("Readiness", "ready"),
                    "503": _json("Readiness", "not ready: the answer says what is missing"),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "tags": ["meta"],
                "summary": "Prometheus metrics, in the format the Accept header asks for",
                "responses": {
                    "200": {
                        "description": "the exposition",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(503),
                },
            }
        },
    }


def _upload_schema(components: dict) -> dict:
    """A multipart upload: the frames (many files, or one zip), and the spec's fields
    but ``source``, each as the spec types it."""
    spec = components[JobSpec.__name__]
    fields = {k: v for k, v in spec["properties"].items() if k != "source"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "frames": {"type": "array", "items": _BINARY},
            "archive": {**_BINARY, "description": "a zip of the frames"},
            **fields,
        },
    }


def _access(doc: dict, tokens_required: bool) -> dict:
    """The answers every operation may give besides its own: 429 (rate limits, but on the
    health checks), 401 when API_TOKENS is set (but on the open routes), 403 for a change
    from another site's page when it is not (with tokens, such a request is a 401 first).
    The bearer scheme is always declared, and required only when tokens are set."""
    limited = _json(
        "ErrorResponse",
        "rate_limited: over a rate limit",
        headers={"Retry-After": _header("seconds to wait", {"type": "integer", "minimum": 1})},
    )
    refused = _json(
        "ErrorResponse",
        "unauthorized: no token, or not a valid one",
        headers={"WWW-Authenticate": _header('Bearer realm="img2vid"')},
    )
    cross_site = _errors(403)["403"]
    for item in doc["paths"].values():
        for method, op in item.items():
            if method == "parameters":
                continue
            if op["operationId"] not in UNLIMITED:
                op["responses"]["429"] = limited
            if op["operationId"] in OPEN:
                op["security"] = []  # no token needed, whatever the service's settings
            elif tokens_required:
                op["responses"]["401"] = refused
            if method in _WRITES and not tokens_required:
                op["responses"]["403"] = cross_site
    doc["components"]["securitySchemes"] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the server's IMG2VID_API_TOKENS, as 'Authorization: Bearer <token>'; "
            "needed when it sets any.",
        }
    }
    if tokens_required:
        doc["security"] = [{"bearerAuth": []}]
    return doc


@lru_cache(maxsize=2)
def document(tokens_required: bool = False) -> dict:
    return _access(
        {
            # pydantic emits JSON Schema 2020-12 (type: null), which is OpenAPI 3.1.
            "openapi": "3.1.0",
            "info": {"title": "img2vid", "version": __version__, "description": "Folders of still frames into videos."},
            "tags": TAGS,
            "paths": _paths(_upload_schema(_COMPONENTS)),
            "components": {"schemas": _COMPONENTS},
        },
        tokens_required,
    )


@api.get("/openapi.json")
@open_to_all  # it says how to authenticate
def openapi_json():
    return jsonify(document("img2vid.tokens" in current_app.extensions))
