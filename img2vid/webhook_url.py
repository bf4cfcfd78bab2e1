"""What a webhook URL may be, and where it may lead.

A job's ``webhook_url`` is an http or https URL with a host, no user or password, at
most 2048 printable ASCII characters (``check_url``, wherever a spec is validated).

Where it leads is checked when the job is submitted and again before every delivery,
as DNS may change in between (``destinations``): every address the host resolves to
must be one the internet routes. Loopback, private, link-local, shared (CGNAT),
reserved, multicast and unspecified addresses are refused, and so are the IPv6 forms
that carry such an IPv4 address (mapped, 6to4, Teredo): otherwise a client could make
the service call its own network (SSRF). ``IMG2VID_WEBHOOK_ALLOW_PRIVATE=1`` lifts the
rule for deployments whose receivers live on their own network. A delivery then
connects to one of the addresses checked, not to a fresh lookup of the name.

Messages name the URL's host and nothing else: neither the URL (its path or query may
hold the receiver's token) nor the addresses a name resolved to (the client would learn
the server's internal DNS).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from img2vid.errors import BadWebhookUrlError, WebhookHostUnresolvedError, WebhooksDisabledError, shown

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
SCHEMES = ("http", "https")
# A batch names one URL for many jobs: a lookup made at submit serves the same host for
# this long (a delivery always looks it up afresh).
_CACHE_SECONDS = 30.0
_CACHE_SIZE = 1024
_cache: dict[tuple[str, int], tuple[float, tuple[Address, ...]]] = {}


@dataclass(frozen=True)
class WebhookPolicy:
    """What the server allows: webhooks at all (a secret to sign with is set), and
    receivers on private addresses."""

    enabled: bool
    allow_private: bool = False

    def check(self, url: str) -> None:
        """Refuse ``url`` unless this server may deliver to it (raises the Img2VidError)."""
        if not self.enabled:
            raise WebhooksDisabledError(
                "this server sends no webhooks (its operator has not set IMG2VID_WEBHOOK_SECRET); leave webhook_url out"
            )
        destinations(url, allow_private=self.allow_private, cached=True)


def check_url(value: Any) -> str:
    """``value`` if it is a webhook URL by its form (no lookup); BadWebhookUrlError if not."""
    if not isinstance(value, str):
        raise BadWebhookUrlError("webhook_url must be a string")
    if len(value) > MAX_URL_LENGTH:
        raise BadWebhookUrlError(f"webhook_url is longer than {MAX_URL_LENGTH} characters")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise BadWebhookUrlError(
            "webhook_url must be printable ASCII with no spaces (percent-encode the rest; a host in punycode)"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise BadWebhookUrlError("webhook_url is not a valid URL (look at its host and port)") from None
    if parts.scheme.lower() not in SCHEMES:
        given = f"not {shown(parts.scheme, 20)}" if parts.scheme else "with its scheme"
        raise BadWebhookUrlError(f"webhook_url must be an http:// or https:// URL, {given}")
    if "@" in parts.netloc:
        raise BadWebhookUrlError("webhook_url must not hold a user or password (put a token in its path or query)")
    if not parts.hostname:
        raise BadWebhookUrlError("webhook_url must name a host")
    if port == 0:
        raise BadWebhookUrlError("webhook_url's port must be 1-65535")
    return value


def host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def refused(ip: Address, *, allow_private: bool) -> bool:
    """Whether the service must not call ``ip`` (module docstring)."""
    if ip.is_multicast or ip.is_unspecified:
        return True  # never a receiver, whatever is allowed
    if allow_private:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if any(v4 is not None and refused(v4, allow_private=False) for v4 in embedded):
            return True
        if ip.is_site_local:
            return True
    # is_global alone lets multicast and a few reserved blocks through on Python 3.11.
    return not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved


def destinations(url: str, *, allow_private: bool, cached: bool = False) -> tuple[Address, ...]:
    """The addresses a delivery to ``url`` may connect to: all its host resolves to,
    every one allowed. WebhookHostUnresolvedError when the host does not resolve,
    BadWebhookUrlError when any address is refused (one bad address of many is enough:
    which one a connection would take is not ours to choose)."""
    host, port = host_of(check_url(url)), port_of(url)
    found = _lookup(host, port, cached)
    if any(refused(ip, allow_private=allow_private) for ip in found):
        raise BadWebhookUrlError(
            f"webhook_url's host {shown(host, 80)} leads to a loopback, private, link-local or other "
            "local address, which this server does not call (IMG2VID_WEBHOOK_ALLOW_PRIVATE allows them)"
        )
    return found


def _lookup(host: str, port: int, cached: bool) -> tuple[Address, ...]:
    now = time.monotonic()
    key = (host.lower(), port)
    if cached and (hit := _cache.get(key)) and hit[0] > now:
        return hit[1]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise WebhookHostUnresolvedError(f"webhook_url's host {shown(host, 80)} does not resolve") from None
    found: list[Address] = []
    for *_, sockaddr in infos:
        # A scoped IPv6 address ("fe80::1%eth0") keeps its scope after the "%".
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    if not found:
        raise WebhookHostUnresolvedError(f"webhook_url's host {shown(host, 80)} does not resolve")
    if cached:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = (now + _CACHE_SECONDS, tuple(found))
    return tuple(found)
