"""The yardstick of make bench-events: a bare Flask app that answers GET /jobs/<id> with
one Redis hash as JSON, under the same gunicorn settings as the service (workers,
worker class, threads: web/gunicorn_conf.py). What the service's GET costs beyond this
is its own: auth, the rate limiter, the request log, the job model, the ETA."""

from __future__ import annotations

import os

import redis
from flask import Flask, abort, jsonify

app = Flask(__name__)
_redis = redis.Redis.from_url(os.environ["IMG2VID_REDIS_URL"], decode_responses=True)
_prefix = os.environ.get("IMG2VID_KEY_PREFIX", "img2vid:")


@app.get("/jobs/<job_id>")
def job(job_id: str):
    h = _redis.hgetall(f"{_prefix}job:{job_id}")
    if not h:
        abort(404)
    return jsonify(h)
