"""Liveness, readiness and Prometheus metrics: machine routes, never rate limited and
quiet in the log; /metrics needs a token when the service has tokens."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from img2vid.errors import StorageDeniedError, StorageUnavailableError, UnavailableError
from img2vid.storage import Storage
from web.disk import disk_usage
from web.metrics import exposition
from web.policy import API, open_to_all, quiet, routes_of_kind
from web.ratelimit import unlimited
from web.services import services

health = routes_of_kind(Blueprint("health", __name__), API)


@health.get("/healthz")
@open_to_all
@quiet
@unlimited
def healthz():
    return jsonify(status="ok")


@health.get("/readyz")
@open_to_all
@quiet
@unlimited
def readyz():
    svc = services()
    store = svc.store
    # How full the data volume is; informative only: a full disk fails jobs, not probes.
    usage = disk_usage(svc.storage, svc.settings.disk_low_percent)
    disk = usage.as_json() if usage else None
    storage = _storage_state(svc.storage)
    try:
        store.ping()
        workers = store.live_workers()
    except UnavailableError as exc:
        body = {"status": "unavailable", "redis": False, "workers": 0, "message": exc.message}
        return jsonify(**body, disk=disk, storage=storage), 503
    if not storage["ok"]:
        return jsonify(status="unavailable", redis=True, workers=workers, disk=disk, storage=storage), 503
    ready = workers > 0
    return jsonify(
        status="ready" if ready else "no workers", redis=True, workers=workers, disk=disk, storage=storage
    ), 200 if ready else 503


def _storage_state(storage: Storage) -> dict:
    """Whether job files can be stored: a bucket is asked (one HEAD), a volume is there."""
    try:
        storage.check()
    except (StorageUnavailableError, StorageDeniedError) as exc:
        return {"kind": storage.kind, "ok": False, "code": exc.code, "message": exc.message}
    return {"kind": storage.kind, "ok": True}


@health.get("/metrics")
@quiet
def metrics():
    svc = services()
    # Read before rendering, so a lost Redis is a 503 and never a half-written scrape.
    snapshot = svc.store.metrics_snapshot(svc.settings.queue)
    body, content_type = exposition(snapshot, request.headers.get("Accept"))
    return Response(body, content_type=content_type)
