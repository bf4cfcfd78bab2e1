"""Signing in to the pages with an API token, and out again (web/auth.py says what needs it).

The form is CSRF-protected like the pages' other POSTs, so no other site can sign a
browser in under its own token. After signing in the browser goes back where it was
going, but only to a path on this site: ``next`` is never an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from web.auth import CHALLENGE, caller, sign_in_session, tokens
from web.csrf import CsrfError, require_csrf
from web.policy import PAGE, open_to_all, routes_of_kind

signin = routes_of_kind(Blueprint("signin", __name__), PAGE)


def safe_next(value: str | None) -> str:
    """``value`` if it is a path on this site (not the sign-in pages), else "/"."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    # Browsers drop tabs and newlines inside a URL: "/\t/evil.example" would become "//evil.example".
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path in ("/signin", "/signout"):
        return "/"
    return value


@signin.app_context_processor
def _who():
    who = caller()
    return {"auth_required": tokens() is not None, "signed_in_as": who.name}


def _form(next_url: str, error: str = "", status: int = 200):
    headers = {"WWW-Authenticate": CHALLENGE} if status == 401 else {}
    return render_template("signin.html", next_url=next_url, error=error), status, headers


@signin.get("/signin")
@open_to_all
def signin_page():
    next_url = safe_next(request.args.get("next"))
    if tokens() is None or caller().name is not None:
        return redirect(next_url)
    return _form(next_url)


@signin.post("/signin")
@open_to_all
def sign_in():
    next_url = safe_next(request.form.get("next"))
    if tokens() is None:
        return redirect(next_url)
    try:
        require_csrf()
    except CsrfError:
        return _form(next_url, "This page had expired, so nothing was sent. Enter your token again.", 403)
    name = tokens().name_for(request.form.get("token", "").strip())
    if name is None:
        return _form(
            next_url, "That token is not one this server knows. Check it (every character counts) and try again.", 401
        )
    sign_in_session(name)
    return redirect(next_url)


@signin.post("/signout")
@open_to_all
def sign_out():
    try:
        require_csrf()
    except CsrfError:
        # Not from one of our pages: nobody is signed out by another site.
        return redirect(url_for("pages.submit_page"))
    session.clear()
    return redirect(url_for("signin.signin_page"))
