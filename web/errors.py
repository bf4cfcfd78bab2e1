"""Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a 4xx/5xx, or,
for a person's browser asking for a page, as a page saying the same in words.

The HTTP details an error carries stay on it: ``Allow`` on a 405, ``Content-Range`` on a
416, ``WWW-Authenticate`` on a 401. Messages name what the client sent, never a server
path or address (those go to the log).
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from img2vid import logs
from img2vid.errors import FrameTooLargeError, Img2VidError, NoFramesError, ServiceError
from web.policy import API, route_kind

log = logging.getLogger(__name__)

# Headers a werkzeug HTTPException adds that describe the error (its Content-Type is ours).
_KEPT_HEADERS = ("Allow", "Content-Range", "WWW-Authenticate", "Retry-After")

_TITLES = {
    400: "That request could not be used",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many requests",
    503: "The service is unavailable",
    500: "Something went wrong",
}


def error_response(status: int, code: str, message: str, path: str | None = None, headers=None):
    # Every error answer is one line too: what was refused and why (the client's own
    # names at most; never a body).
    logs.event(
        log,
        "request_rejected" if status < 500 else "request_failed",
        f"{request.method} {request.path}: {status} {code}: {message}",
        level=logging.INFO if status < 500 else logging.WARNING,
        status=status,
        code=code,
    )
    if wants_page():
        resp = current_app.make_response(
            (
                render_template(
                    "error.html",
                    status=status,
                    title=_TITLES.get(status, "That did not work"),
                    message=message,
                    code=code,
                ),
                status,
            )
        )
    else:
        body = {"code": code, "message": message}
        if path:
            body["path"] = path
        resp = jsonify(error=body)
        resp.status_code = status
    for name, value in headers or ():
        resp.headers[name] = value
    return resp


def wants_page() -> bool:
    """A browser asking for a page (a GET of a route that is not an API route, and that
    prefers HTML): it is answered with a page even when something failed, never with a
    JSON error. API routes (web/policy.py) answer JSON whoever asks."""
    if request.method not in ("GET", "HEAD") or route_kind() == API:
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def status_for(exc: Img2VidError) -> int:
    if isinstance(exc, ServiceError):
        return exc.status
    if isinstance(exc, FrameTooLargeError):
        return 413
    if isinstance(exc, NoFramesError):
        return 422
    return 400


def _too_large_message() -> str:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    sent = request.content_length
    size = f"the request is {sent:,} bytes, over" if sent and sent > limit else "the request is over"
    return f"{size} the limit of {limit:,} bytes per request (IMG2VID_MAX_REQUEST_BYTES)"


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Img2VidError)
    def _img2vid(exc: Img2VidError):
        return error_response(status_for(exc), exc.code, exc.message, exc.path)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        code = {
            413: "request_too_large",
            404: "not_found",
            405: "method_not_allowed",
            416: "range_not_satisfiable",
        }.get(status, (exc.name or "error").lower().replace(" ", "_"))
        message = exc.description or exc.name
        if status == 413:
            message = _too_large_message()
        elif status == 405:
            allowed = ", ".join(getattr(exc, "valid_methods", None) or ())
            message = f"{request.method} is not allowed here" + (f"; use {allowed}" if allowed else "")
        elif status == 416:
            message = "the range asked for is not in the file"
        kept = [(k, v) for k, v in exc.get_headers() if k in _KEPT_HEADERS]
        return error_response(status, code, message, headers=kept)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # A bug, not bad input: the traceback goes to the log, a short answer to the client.
        log.error(
            "%s %s failed unexpectedly", request.method, request.path, exc_info=exc, extra={"event": "request_crashed"}
        )
        return error_response(500, "internal_error", "the server failed unexpectedly; its log has the details")
