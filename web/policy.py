"""Route policy, declared where the routes are, never as lists of paths.

A blueprint says what kind of routes it holds (``routes_of_kind``): ``API`` routes take a
bearer token and answer JSON whoever asks; ``PAGE`` routes take a signed-in session and
answer a browser with pages. A view may say more of itself: ``open_to_all`` (no token or
sign-in), ``quiet`` (its request line is DEBUG: health checks and scrapes). The rate
limits' own marks are in web/ratelimit.py, CSRF's is in web/csrf.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint, current_app, request

API, PAGE = "api", "page"
V = TypeVar("V", bound=Callable)


def routes_of_kind(blueprint: Blueprint, kind: str) -> Blueprint:
    blueprint.img2vid_kind = kind  # type: ignore[attr-defined]
    return blueprint


def open_to_all(view: V) -> V:
    """Served without a token or sign-in, even when API_TOKENS is set."""
    view.img2vid_open = True  # type: ignore[attr-defined]
    return view


def quiet(view: V) -> V:
    """Its request line is logged at DEBUG (probes would otherwise be most of the log)."""
    view.img2vid_quiet = True  # type: ignore[attr-defined]
    return view


def route_kind() -> str | None:
    """API or PAGE for this request's route. A URL that matches no route (a 404 or 405)
    is of the blueprint under whose URL prefix it lies (/api/v1/nothing is an API URL);
    None outside every blueprint (static files, /nowhere)."""
    name = request.blueprint
    if name is None and request.url_rule is None:
        name = next(
            (
                n
                for n, bp in current_app.blueprints.items()
                if bp.url_prefix and request.path.startswith(bp.url_prefix + "/")
            ),
            None,
        )
    return getattr(current_app.blueprints.get(name or ""), "img2vid_kind", None)


def view_is(mark: str) -> bool:
    """Whether this request's view carries ``mark`` ("open", "quiet")."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, f"img2vid_{mark}", False))
