"""The web side: a Flask app factory, run as ``gunicorn 'web:create_app()'``.

It never imports OpenCV or the worker's code; jobs reach workers by task name. The job
API and pages arrive with the queue and web-page issues; for now it answers liveness.
"""

from __future__ import annotations

from flask import Flask, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
