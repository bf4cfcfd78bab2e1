"""The API's blueprint, mounted at /api/v1; its routes add themselves to it."""

from flask import Blueprint

from web.policy import API, routes_of_kind

api = routes_of_kind(Blueprint("api", __name__, url_prefix="/api/v1"), API)
