"""One delivery attempt over HTTP: the signed POST of a job's JSON to its webhook_url.

The host's addresses are looked up and checked (img2vid/webhook_url.py) right before,
and the connection goes to one of those addresses, with the URL's host in ``Host``
and as the TLS server name: a name that resolves to a public address when checked
and to a private one a moment later (DNS rebinding) reaches nothing new. Nothing else
is trusted either: no proxy from the environment, no redirect followed, 5 s for each
step (connect, send, each read), and at most 64 KiB of the answer read, then dropped.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import httpx

from img2vid import __version__
from img2vid.errors import BadWebhookUrlError, WebhookHostUnresolvedError
from img2vid.webhook_url import destinations, host_of

TIMEOUT_SECONDS = 5.0
READ_AT_MOST = 64 * 1024
# Addresses of a host tried in turn when one refuses the connection (nothing was sent).
ADDRESSES_TRIED = 3
USER_AGENT = f"img2vid/{__version__}"


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: the HTTP status, or 'timeout', 'connection_error',
    'refused' (not sent); what went wrong in words; the receiver's Retry-After."""

    status: int | str
    error: str = ""
    retry_after: str | None = None


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> Attempt:
    """POST ``body`` (JSON) to ``url`` with ``headers`` added: one attempt, never raises
    for what the receiver or the network does."""
    try:
        addresses = destinations(url, allow_private=allow_private)
    except WebhookHostUnresolvedError as exc:
        return Attempt("connection_error", exc.message)
    except BadWebhookUrlError as exc:
        return Attempt("refused", exc.message)
    host = host_of(url)
    failed = Attempt("connection_error", f"could not connect to {host}")
    for address in addresses[:ADDRESSES_TRIED]:
        try:
            return _post_to(address, url, body, headers)
        except httpx.ConnectError:
            failed = Attempt("connection_error", f"could not connect to {host} (refused or unreachable)")
        except httpx.TimeoutException:
            return Attempt("timeout", f"{host} did not answer within {TIMEOUT_SECONDS:g} s")
        except httpx.HTTPError as exc:  # the connection broke, or the answer was not HTTP
            return Attempt("connection_error", f"{host}: {type(exc).__name__}")
    return failed


def _post_to(address, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
    target = httpx.URL(url)
    extensions = {}
    if not _is_address(target.host):
        extensions["sni_hostname"] = target.host  # TLS checks the name's certificate
    sent = {
        **headers,
        "Host": target.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST", target.copy_with(host=str(address)), content=body, headers=sent, extensions=extensions
        )
        response = client.send(request, stream=True)
        try:
            _read_a_little(response)
        finally:
            response.close()
        status = response.status_code
        error = "" if 200 <= status < 300 else _words(status)
        return Attempt(status, error, response.headers.get("Retry-After"))


def _read_a_little(response: httpx.Response) -> None:
    # Read so that the receiver sees its answer taken, but never more than a little, and
    # never for long: what it says is not ours to keep.
    deadline = time.monotonic() + TIMEOUT_SECONDS
    read = 0
    for chunk in response.iter_raw(16 * 1024):
        read += len(chunk)
        if read >= READ_AT_MOST or time.monotonic() > deadline:
            break


def _words(status: int) -> str:
    # The standard phrase, not the receiver's: its words are not ours to show.
    if 300 <= status < 400:
        return f"the receiver answered {status}, a redirect, which is never followed"
    return f"the receiver answered {status} {httpx.codes.get_reason_phrase(status)}".rstrip()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
