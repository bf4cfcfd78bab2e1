"""The OpenAPI 3 document, generated from the pydantic models."""

from __future__ import annotations

from functools import lru_cache

from flask import current_app, jsonify
from pydantic.json_schema import models_json_schema

from img2vid import __version__
from img2vid.models import BatchRequest, BatchResponse, ErrorResponse, InputList, Job, JobList, JobSpec, STATES

from . import api

_MODELS = (JobSpec, Job, JobList, BatchRequest, BatchResponse, ErrorResponse, InputList)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict:
    words = {400: "invalid request", 404: "no such job", 409: "wrong state", 413: "over a limit",
             415: "unsupported media type", 422: "nothing to do / key reused", 503: "Redis unreachable"}
    return {str(c): _json("ErrorResponse", words[c]) for c in codes}


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{16,24}$"}}


# What a client (or a fuzzer) can do next with the id a create returns.
_JOB_LINKS = {
    name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}}
    for name, op in [("Get", "getJob"), ("Cancel", "cancelJob"), ("Retry", "retryJob"), ("Video", "getVideo"),
                     ("Poster", "getPoster"), ("Delete", "deleteJob")]
}


def _access(doc: dict, tokens_required: bool) -> dict:
    """Every operation may answer 429 (rate limits), and 401 when API_TOKENS is set; the
    bearer scheme is always declared, and required only when tokens are set."""
    limited = {**_json("ErrorResponse", "over a rate limit"),
               "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}}}
    refused = {**_json("ErrorResponse", "no token, or not a valid one"),
               "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}}
    for item in doc["paths"].values():
        for method, op in item.items():
            if method != "parameters":
                op["responses"]["429"] = limited
                if tokens_required:
                    op["responses"]["401"] = refused
    doc["components"]["securitySchemes"] = {"bearerAuth": {
        "type": "http", "scheme": "bearer",
        "description": "One of the server's API_TOKENS, as 'Authorization: Bearer <token>'; needed when it sets any."}}
    if tokens_required:
        doc["security"] = [{"bearerAuth": []}]
    return doc


@lru_cache(maxsize=2)
def document(tokens_required: bool = False) -> dict:
    _, defs = models_json_schema([(m, "serialization") for m in _MODELS], ref_template="#/components/schemas/{model}")
    upload = {
        "type": "object",
        "properties": {
            "frames": {"type": "array", "items": {"type": "string", "format": "binary"}},
            "archive": {"type": "string", "format": "binary"},
            "fps": {"type": "number"}, "codec": {"type": "string"}, "size": {"type": "string"},
            "fit": {"type": "string"}, "name": {"type": "string"},
        },
    }
    return _access({
        # pydantic emits JSON Schema 2020-12 (type: null), which is OpenAPI 3.1.
        "openapi": "3.1.0",
        "info": {"title": "img2vid", "version": __version__, "description": "Folders of still frames into videos."},
        "paths": {
            "/api/v1/jobs": {
                "post": {
                    "summary": "Create a job from a folder under the input root, or from uploaded frames",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("JobSpec")},
                        "multipart/form-data": {"schema": upload},
                    }},
                    "responses": {"202": {**_json("Job", "queued"), "links": _JOB_LINKS},
                                  "200": _json("Job", "Idempotency-Key replay"),
                                  **_errors(400, 413, 415, 422, 503)},
                },
                "get": {
                    "summary": "List jobs, newest first",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}},
                    ],
                    "responses": {"200": _json("JobList", "jobs"), **_errors(400, 503)},
                },
            },
            "/api/v1/batch": {"post": {
                "summary": "Create many folder jobs; each item is queued or refused on its own",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("BatchRequest")}}},
                "responses": {"202": _json("BatchResponse", "at least one queued"), "422": _json("BatchResponse", "none queued"),
                              **_errors(400, 413, 503)},
            }},
            "/api/v1/jobs/{job_id}": {
                "parameters": [JOB_ID],
                "get": {"operationId": "getJob", "summary": "A job", "responses": {"200": _json("Job", "the job"), **_errors(404, 503)}},
                "delete": {"operationId": "deleteJob", "summary": "Remove a finished job and its files",
                           "responses": {"204": {"description": "removed"}, **_errors(404, 409, 503)}},
            },
            "/api/v1/jobs/{job_id}/cancel": {"parameters": [JOB_ID], "post": {
                "operationId": "cancelJob", "summary": "Stop a queued or running job", "responses": {"202": _json("Job", "cancelled or stopping"), **_errors(404, 409, 503)}}},
            "/api/v1/jobs/{job_id}/retry": {"parameters": [JOB_ID], "post": {
                "operationId": "retryJob", "summary": "A new job with the same spec", "responses": {"202": _json("Job", "queued"), **_errors(404, 409, 413, 422, 503)}}},
            "/api/v1/jobs/{job_id}/video": {"parameters": [JOB_ID], "get": {
                "operationId": "getVideo", "summary": "The video (Range supported)",
                "responses": {"200": {"description": "the file", "content": {"video/*": {"schema": {"type": "string", "format": "binary"}}}},
                              "206": {"description": "a range of it"}, **_errors(404, 409, 503)}}},
            "/api/v1/jobs/{job_id}/poster.jpg": {"parameters": [JOB_ID], "get": {
                "operationId": "getPoster", "summary": "The first frame as JPEG",
                "responses": {"200": {"description": "the poster", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                              **_errors(404, 409, 503)}}},
            "/api/v1/inputs": {"get": {
                "summary": "Folders under the input root with their frame counts",
                "parameters": [{"name": "dir", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json("InputList", "folders"), **_errors(400, 503)}}},
        },
        "components": {"schemas": defs["$defs"] if "$defs" in defs else defs},
    }, tokens_required)


@api.get("/openapi.json")
def openapi_json():
    # Open even when tokens are set (web/auth.py): it says how to authenticate.
    return jsonify(document("img2vid.tokens" in current_app.extensions))
