"""The JSON API, mounted at /api/v1."""

from flask import Blueprint

api = Blueprint("api", __name__)

from . import inputs, jobs, openapi  # noqa: E402,F401  (routes register on import)
