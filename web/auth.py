"""Who may use the service. With API_TOKENS unset it is open to anyone who can reach it.
With tokens set:

- the API (/api/v1/*) and /metrics take ``Authorization: Bearer <token>``, else 401;
- the pages take a signed-in session (web/signin.py), else they send the browser to
  /signin; the pages' scripts read the API with that session's cookie, but only with
  safe methods: a cookie-only POST or DELETE to the API is refused, so no other site can
  make a signed-in browser change anything there (the pages' own POST routes carry a
  CSRF token, web/csrf.py);
- /healthz and /readyz (container health checks), the sign-in page and the OpenAPI
  document (it describes the API, holds no data, and tells a client how to authenticate)
  stay open: their views say so (``open_to_all``, web/policy.py). Which routes are API
  and which are pages, their blueprints say.

The session holds the token's name and a mark derived from the token and the session
key, never the token: rotating a token ends the sessions signed in with it.

Jobs belong to the name that created them: another name gets 404 for them everywhere,
as if they did not exist; an admin token (``name:token:admin``) sees and manages all.
Without tokens every caller is the same one user and sees everything.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, session, url_for

from img2vid.apitokens import ApiToken
from web.errors import error_response
from web.policy import API, route_kind, view_is

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHALLENGE = 'Bearer realm="img2vid"'


@dataclass(frozen=True)
class Tokens:
    tokens: tuple[tuple[str, bytes], ...]  # (name, token)
    marks: dict[str, str]  # name -> what a session signed in with that token holds
    admins: frozenset[str]

    @classmethod
    def create(cls, entries: tuple[ApiToken, ...], secret_key: str) -> Tokens:
        tokens = tuple((t.name, t.token.encode()) for t in entries)
        marks = {name: hmac.new(secret_key.encode(), token, hashlib.sha256).hexdigest()[:32] for name, token in tokens}
        return cls(tokens, marks, frozenset(t.name for t in entries if t.admin))

    def name_for(self, presented: str) -> str | None:
        """The name of the token presented, or None. Compares with every token in
        constant time, so the answer's timing says nothing about which one is close."""
        got = presented.encode()
        found = None
        for name, token in self.tokens:
            if hmac.compare_digest(got, token):
                found = name
        return found

    def session_name(self, held) -> str | None:
        """The name a session's ``auth`` value is signed in as, if its token still holds."""
        if not (isinstance(held, list) and len(held) == 2 and all(isinstance(x, str) for x in held)):
            return None
        name, mark = held
        expected = self.marks.get(name)
        return name if expected is not None and hmac.compare_digest(mark, expected) else None


@dataclass(frozen=True)
class Caller:
    name: str | None = None  # the token's name; None when not authenticated
    by: str = ""  # "bearer" or "session"
    bad_token: bool = False  # a bearer token was sent and matched none
    admin: bool = False  # its token is marked admin in API_TOKENS


def tokens() -> Tokens | None:
    return current_app.extensions.get("img2vid.tokens")


def caller() -> Caller:
    """Who sent this request (worked out once per request; the rate limiter asks too)."""
    if "caller" not in g:
        g.caller = _identify()
    return g.caller


def _identify() -> Caller:
    known = tokens()
    if known is None:
        return Caller()
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        name = known.name_for(value.strip()) if scheme.lower() == "bearer" and value.strip() else None
        return Caller(name, "bearer", admin=name in known.admins) if name else Caller(bad_token=True)
    name = known.session_name(session.get("auth"))
    return Caller(name, "session", admin=name in known.admins) if name else Caller()


def job_owner() -> str | None:
    """Whom a job made by this request belongs to: the caller's name (None when open)."""
    return caller().name if tokens() is not None else None


def may_see(owner: str | None) -> bool:
    """Whether this request may see (and manage) a job that ``owner`` made."""
    if tokens() is None:
        return True
    who = caller()
    return who.admin or (who.name is not None and who.name == owner)


def owner_filter() -> str | None:
    """The owner whose jobs a listing is limited to; None for all (open, or an admin)."""
    if tokens() is None or caller().admin:
        return None
    return caller().name or ""


def sign_in_session(name: str) -> None:
    # A fresh session: nothing from before signing in (its CSRF token) carries over.
    session.clear()
    session["auth"] = [name, tokens().marks[name]]


def unauthorized(message: str, *, bad_token: bool = False):
    resp = error_response(401, "unauthorized", message)
    resp.headers["WWW-Authenticate"] = CHALLENGE + (', error="invalid_token"' if bad_token else "")
    return resp


def _where_to_return() -> str:
    query = request.query_string.decode("latin-1")
    return quote(request.path) + (f"?{query}" if query else "")


def _gate():
    if tokens() is None:
        return None
    kind = route_kind()
    # Static files, open views, and URLs of no route outside the API (a 404 says no
    # more than the OpenAPI document does) need no token.
    if kind is None or view_is("open"):
        return None
    who = caller()
    if who.bad_token:
        return unauthorized("the bearer token is not valid", bad_token=True)
    if kind == API:
        if who.by == "bearer" or (who.by == "session" and request.method in SAFE_METHODS):
            return None
        if who.by == "session":
            return unauthorized(
                "changes through the API need 'Authorization: Bearer <token>'; "
                "a signed-in page sends them through its own forms"
            )
        return unauthorized("this server needs a token: send 'Authorization: Bearer <token>'")
    if who.name is not None:
        return None
    if request.method in ("GET", "HEAD"):
        back = _where_to_return()
        return redirect(url_for("signin.signin_page", next=back if back != "/" else None))
    return unauthorized("you are not signed in (or your sign-in has ended): sign in again")


def install_auth(app: Flask, entries: tuple[ApiToken, ...]) -> None:
    """Check every request against API_TOKENS (when there are any)."""
    if entries:
        app.extensions["img2vid.tokens"] = Tokens.create(entries, app.secret_key)
    app.before_request(_gate)
