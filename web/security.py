"""What every answer says to the browser, and which requests another site may not make.

- Headers: no MIME sniffing, no framing by any site (clickjacking), and a strict
  Content-Security-Policy: the pages load scripts, styles, images and videos from this
  server alone and run no inline script.
- Cross-site writes: a POST, PUT, PATCH or DELETE from another site's page (a foreign
  ``Origin``, or ``Sec-Fetch-Site: cross-site``) is refused with 403 unless it carries a
  bearer token, which a browser cannot attach across sites without this server's
  consent (it gives none: no CORS). So with API_TOKENS unset, no web page can create,
  cancel or delete jobs through a visitor's browser; curl and scripts send no Origin
  and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request

from img2vid.errors import CrossSiteError

CSP = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",  # the pages' empty favicon is a data: URL
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors' older twin, for older browsers
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _add_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _refuse_cross_site_writes() -> None:
    if request.method in SAFE_METHODS or request.headers.get("Authorization", "").lower().startswith("bearer "):
        return
    origin = request.headers.get("Origin")
    if request.headers.get("Sec-Fetch-Site") == "cross-site" or (origin is not None and not _same_host(origin)):
        raise CrossSiteError(
            f"a change sent from another site's page (Origin: {origin or 'unknown'}) is refused; "
            "scripts send no Origin, or send 'Authorization: Bearer <token>'"
        )


def _same_host(origin: str) -> bool:
    """Whether ``origin`` names this server as the request reached it. "null" (a sandboxed
    page, a file) never does. Schemes are not compared: behind a proxy that ends TLS
    without saying so, an https page posts to an http server."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    host = name + (f":{port}" if port and port != {"http": 80, "https": 443}[parts.scheme] else "")
    return host.lower() == request.host.lower()


def install_security(app: Flask) -> None:
    app.before_request(_refuse_cross_site_writes)
    app.after_request(_add_headers)
