"""Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from img2vid import logs
from img2vid.errors import FrameTooLargeError, Img2VidError, NoFramesError, ServiceError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, path: str | None = None):
    # Every error answer is one line too: what was refused and why (the client's own
    # names at most; never a body).
    logs.event(log, "request_rejected" if status < 500 else "request_failed",
               f"{request.method} {request.path}: {status} {code}: {message}",
               level=logging.INFO if status < 500 else logging.WARNING, status=status, code=code)
    body = {"code": code, "message": message}
    if path:
        body["path"] = path
    resp = jsonify(error=body)
    resp.status_code = status
    return resp


def status_for(exc: Img2VidError) -> int:
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, FrameTooLargeError):
        return 413
    if isinstance(exc, NoFramesError):
        return 422
    return 400


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Img2VidError)
    def _img2vid(exc: Img2VidError):
        return error_response(status_for(exc), exc.code, exc.message, exc.path)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = {413: "request_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.code or 500, (exc.name or "error").lower().replace(" ", "_")
        )
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"the request is larger than the limit of {app.config['MAX_CONTENT_LENGTH']:,} bytes"
        return error_response(exc.code or 500, code, message)
