"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from img2vid.errors import UnavailableError

from .services import services

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return jsonify(status="ok")


@health.get("/readyz")
def readyz():
    store = services().store
    try:
        store.ping()
        workers = store.live_workers()
    except UnavailableError as exc:
        return jsonify(status="unavailable", redis=False, workers=0, message=exc.message), 503
    ready = workers > 0
    return jsonify(status="ready" if ready else "no workers", redis=True, workers=workers), 200 if ready else 503


@health.get("/metrics")
def metrics():
    counts = services().store.counts()
    lines = [
        "# HELP img2vid_jobs Jobs held in the job store, by state.",
        "# TYPE img2vid_jobs gauge",
        *(f'img2vid_jobs{{state="{s}"}} {n}' for s, n in counts.items() if s != "workers"),
        "# HELP img2vid_workers Workers that sent a heartbeat in the last 15 seconds.",
        "# TYPE img2vid_workers gauge",
        f"img2vid_workers {counts['workers']}",
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
