"""The JSON API, mounted at /api/v1."""

from flask import Blueprint

from web.policy import API, routes_of_kind

api = routes_of_kind(Blueprint("api", __name__, url_prefix="/api/v1"), API)

from web.api import inputs, jobs, openapi  # noqa: E402,F401  (routes register on import)
