"""One JSON line per request: method, path, status, duration, client, and the job it was
about. gunicorn's own access log stays off (WEB_ACCESS_LOG turns it on), as it cannot
know the job a request created.

Probes (views marked ``quiet``: /healthz, /readyz, /metrics) and static files are
logged at DEBUG: Docker's health check and a Prometheus scrape would otherwise be most
of the log.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, g, request

from img2vid import logs
from web.policy import view_is

log = logging.getLogger("web.request")


def init_app(app: Flask) -> None:
    # First in line, so that a later before_request hook that answers by itself (a
    # refused token) is still timed.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_log)
    app.teardown_request(_forget)


def _start() -> None:
    g.img2vid_started = time.perf_counter()
    logs.bind_job((request.view_args or {}).get("job_id"))


def _log(response):
    started = g.get("img2vid_started")
    quiet = view_is("quiet") or request.endpoint == "static"
    logs.event(
        log,
        "request",
        f"{request.method} {request.path} {response.status_code}",
        level=logging.DEBUG if quiet else logging.INFO,
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        bytes=response.content_length,
        client=request.remote_addr,
        # The API token's name when one was checked (web/auth.py); never the token.
        caller=getattr(g.get("caller"), "name", None),
    )
    return response


def _forget(_exc) -> None:
    logs.bind_job(None)
