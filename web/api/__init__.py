"""The JSON API, mounted at /api/v1: jobs, input folders, the OpenAPI document."""

from web.api import events, inputs, jobs, openapi  # noqa: F401  (each adds its routes to the blueprint)
from web.api.blueprint import api

__all__ = ["api"]
