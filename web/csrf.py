"""CSRF protection for the web pages' forms: a random token in the signed session
cookie, sent back by the page in the X-CSRF-Token header (or a csrf_token field)."""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import request, session

from img2vid.errors import ServiceError


class CsrfError(ServiceError):
    """Raised when a page's form comes back without the token it was given."""

    code = "csrf_failed"
    status = 403


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def require_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError("this form has expired or did not come from this site; reload the page and try again")


def csrf_required(view):
    """A page's own POST route: refused (403 csrf_failed) without its page's token."""

    @functools.wraps(view)
    def checked(*args, **kwargs):
        require_csrf()
        return view(*args, **kwargs)

    return checked
