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


def csp(download_origin: str | None = None) -> str:
    """The policy; ``download_origin`` is where videos and posters are fetched from when
    their routes redirect to a store's presigned URLs (a redirect's target is checked too)."""
    also = f" {download_origin}" if download_origin else ""
    return "; ".join(
        (
            "default-src 'self'",
            f"img-src 'self' data:{also}",  # the pages' empty favicon is a data: URL
            f"media-src 'self'{also}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors' older twin, for older browsers
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def install_security(app: Flask, download_origin: str | None = None) -> None:
    headers = {**HEADERS, "Content-Security-Policy": csp(download_origin)}

    def add_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    app.before_request(_refuse_cross_site_writes)
    app.after_request(add_headers)
