"""The OpenAPI 3 document, generated from the models the API answers with and reads:
requests in their validation schema, answers in their serialization schema."""

from __future__ import annotations

from functools import lru_cache

from flask import current_app, jsonify
from pydantic.json_schema import models_json_schema

from img2vid import __version__
from img2vid.job import STATES, Job, JobSpec
from web.api.blueprint import api
from web.api.schemas import BatchRequest, BatchResponse, ErrorResponse, InputList, JobList
from web.policy import open_to_all

_REQUESTS = (JobSpec, BatchRequest)
_ANSWERS = (Job, JobList, BatchResponse, ErrorResponse, InputList)
_TEMPLATE = "#/components/schemas/{model}"


def _schemas() -> tuple[dict[str, dict], dict]:
    """({model name: its $ref}, the components' schemas)."""
    refs, defs = models_json_schema(
        [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _ANSWERS], ref_template=_TEMPLATE
    )
    return {model.__name__: ref for (model, _), ref in refs.items()}, defs.get("$defs", defs)


_REFS, _COMPONENTS = _schemas()


def _ref(name: str) -> dict:
    return _REFS[name]


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict:
    return {str(c): _json("ErrorResponse", _ERROR_WORDS[c]) for c in codes}


def _upload_schema(components: dict) -> dict:
    """A multipart upload: the frames (many files, or one zip), and the spec's fields
    but ``source``, each as the spec types it."""
    spec = components[JobSpec.__name__]
    fields = {k: v for k, v in spec["properties"].items() if k != "source"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "frames": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "archive": {"type": "string", "format": "binary", "description": "a zip of the frames"},
            **fields,
        },
    }


_ERROR_WORDS = {
    400: "invalid request",
    404: "no such job",
    409: "wrong state",
    413: "over a limit",
    415: "unsupported media type",
    422: "nothing to do / key reused",
    503: "Redis unreachable",
}


JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{16,24}$"},
}


# What a client (or a fuzzer) can do next with the id a create returns.
_JOB_LINKS = {
    name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}}
    for name, op in [
        ("Get", "getJob"),
        ("Cancel", "cancelJob"),
        ("Retry", "retryJob"),
        ("Video", "getVideo"),
        ("Poster", "getPoster"),
        ("Delete", "deleteJob"),
    ]
}


def _access(doc: dict, tokens_required: bool) -> dict:
    """Every operation may answer 429 (rate limits), and 401 when API_TOKENS is set; the
    bearer scheme is always declared, and required only when tokens are set."""
    limited = {
        **_json("ErrorResponse", "over a rate limit"),
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    }
    refused = {
        **_json("ErrorResponse", "no token, or not a valid one"),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    }
    for item in doc["paths"].values():
        for method, op in item.items():
            if method != "parameters":
                op["responses"]["429"] = limited
                if tokens_required:
                    op["responses"]["401"] = refused
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
    upload = _upload_schema(_COMPONENTS)
    return _access(
        {
            # pydantic emits JSON Schema 2020-12 (type: null), which is OpenAPI 3.1.
            "openapi": "3.1.0",
            "info": {"title": "img2vid", "version": __version__, "description": "Folders of still frames into videos."},
            "paths": {
                "/api/v1/jobs": {
                    "post": {
                        "summary": "Create a job from a folder under the input root, or from uploaded frames",
                        "parameters": [
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": False,
                                "schema": {"type": "string", "maxLength": 200},
                            }
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {"schema": _ref("JobSpec")},
                                "multipart/form-data": {"schema": upload},
                            },
                        },
                        "responses": {
                            "202": {**_json("Job", "queued"), "links": _JOB_LINKS},
                            "200": _json("Job", "Idempotency-Key replay"),
                            **_errors(400, 413, 415, 422, 503),
                        },
                    },
                    "get": {
                        "summary": "List jobs, newest first",
                        "parameters": [
                            {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
                            {
                                "name": "limit",
                                "in": "query",
                                "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                            },
                            {
                                "name": "offset",
                                "in": "query",
                                "schema": {"type": "integer", "minimum": 0, "maximum": 1000000},
                            },
                        ],
                        "responses": {"200": _json("JobList", "jobs"), **_errors(400, 503)},
                    },
                },
                "/api/v1/batch": {
                    "post": {
                        "summary": "Create many folder jobs; each item is queued or refused on its own",
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": _ref("BatchRequest")}},
                        },
                        "responses": {
                            "202": _json("BatchResponse", "at least one queued"),
                            "422": _json("BatchResponse", "none queued"),
                            **_errors(400, 413, 503),
                        },
                    }
                },
                "/api/v1/jobs/{job_id}": {
                    "parameters": [JOB_ID],
                    "get": {
                        "operationId": "getJob",
                        "summary": "A job",
                        "responses": {"200": _json("Job", "the job"), **_errors(404, 503)},
                    },
                    "delete": {
                        "operationId": "deleteJob",
                        "summary": "Remove a finished job and its files",
                        "responses": {"204": {"description": "removed"}, **_errors(404, 409, 503)},
                    },
                },
                "/api/v1/jobs/{job_id}/cancel": {
                    "parameters": [JOB_ID],
                    "post": {
                        "operationId": "cancelJob",
                        "summary": "Stop a queued or running job",
                        "responses": {"202": _json("Job", "cancelled or stopping"), **_errors(404, 409, 503)},
                    },
                },
                "/api/v1/jobs/{job_id}/retry": {
                    "parameters": [JOB_ID],
                    "post": {
                        "operationId": "retryJob",
                        "summary": "A new job with the same spec",
                        "responses": {"202": _json("Job", "queued"), **_errors(404, 409, 413, 422, 503)},
                    },
                },
                "/api/v1/jobs/{job_id}/video": {
                    "parameters": [JOB_ID],
                    "get": {
                        "operationId": "getVideo",
                        "summary": "The video (Range supported)",
                        "responses": {
                            "200": {
                                "description": "the file",
                                "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}},
                            },
                            "206": {"description": "a range of it"},
                            **_errors(404, 409, 503),
                        },
                    },
                },
                "/api/v1/jobs/{job_id}/poster.jpg": {
                    "parameters": [JOB_ID],
                    "get": {
                        "operationId": "getPoster",
                        "summary": "The first frame as JPEG",
                        "responses": {
                            "200": {
                                "description": "the poster",
                                "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                            },
                            **_errors(404, 409, 503),
                        },
                    },
                },
                "/api/v1/inputs": {
                    "get": {
                        "summary": "Folders under the input root with their frame counts",
                        "parameters": [{"name": "dir", "in": "query", "schema": {"type": "string"}}],
                        "responses": {"200": _json("InputList", "folders"), **_errors(400, 503)},
                    }
                },
            },
            "components": {"schemas": _COMPONENTS},
        },
        tokens_required,
    )


@api.get("/openapi.json")
@open_to_all  # it says how to authenticate
def openapi_json():
    return jsonify(document("img2vid.tokens" in current_app.extensions))
