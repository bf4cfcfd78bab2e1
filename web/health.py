"""Liveness, readiness and Prometheus metrics: machine routes, never rate limited and
quiet in the log; /metrics needs a token when the service has tokens."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from img2vid.errors import UnavailableError
from web.disk import disk_usage
from web.metrics import exposition
from web.policy import API, open_to_all, quiet, routes_of_kind
from web.ratelimit import limiter
from web.services import services

health = routes_of_kind(Blueprint("health", __name__), API)


@health.get("/healthz")
@open_to_all
@quiet
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@health.get("/readyz")
@open_to_all
@quiet
@limiter.exempt
def readyz():
    svc = services()
    store = svc.store
    # How full the data volume is; informative only: a full disk fails jobs, not probes.
    usage = disk_usage(svc.storage, svc.settings.disk_low_percent)
    disk = usage.as_json() if usage else None
    try:
        store.ping()
        workers = store.live_workers()
    except UnavailableError as exc:
        return jsonify(status="unavailable", redis=False, workers=0, message=exc.message, disk=disk), 503
    ready = workers > 0
    return jsonify(
        status="ready" if ready else "no workers", redis=True, workers=workers, disk=disk
    ), 200 if ready else 503


@health.get("/metrics")
@quiet
def metrics():
    svc = services()
    # Read before rendering, so a lost Redis is a 503 and never a half-written scrape.
    snapshot = svc.store.metrics_snapshot(svc.settings.queue)
    body, content_type = exposition(snapshot, request.headers.get("Accept"))
    return Response(body, content_type=content_type)
