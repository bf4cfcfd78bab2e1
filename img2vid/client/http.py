"""The one HTTP connection a ``Client`` holds to its server: an ``httpx.Client`` (its
connection kept and reused from call to call), the proxy settings of the environment
honoured, redirects never followed by themselves, and every failure a ``ClientError``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from img2vid import __version__
from img2vid.client.errors import ClientError, RedirectError, server_error, transport_error

DEFAULT_SERVER = "http://127.0.0.1:8000"


def default_server() -> str:
    """``$IMG2VID_SERVER``, else http://127.0.0.1:8000."""
    return os.environ.get("IMG2VID_SERVER") or DEFAULT_SERVER


def default_token() -> str:
    """``$IMG2VID_TOKEN``: from the environment, as a token on a command line would show
    in ``ps`` and the shell's history."""
    return os.environ.get("IMG2VID_TOKEN", "").strip()


class Connection:
    """Requests to one server. ``timeout`` bounds connecting and each read."""

    def __init__(self, server: str, token: str, timeout: float) -> None:
        self.server = server.rstrip("/")
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"the server must be an http:// or https:// URL, got {server!r}", code="bad_server_url")
        self.timeout = timeout
        self._token = token
        self._http = httpx.Client(
            base_url=self.server,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            trust_env=True,
            headers={"User-Agent": f"img2vid/{__version__} httpx/{httpx.__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Send one request and read the whole answer; 2xx, else ClientError."""
        with self.stream(method, path, **kw) as resp:
            try:
                resp.read()
            except httpx.TransportError as exc:
                raise transport_error(exc, self.server) from None
            return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.request(method, path, **kw)
        try:
            return resp.json()
        except ValueError:
            raise ClientError(
                f"{self.server} answered {path} with something other than JSON; is it an img2vid server?",
                code="bad_response",
                status=resp.status_code,
            ) from None

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: Any = None,
        read_timeout: float | None = None,
        allow: tuple[int, ...] = (),
        auth: bool = True,
    ) -> Iterator[httpx.Response]:
        """Send one request; the open answer when it is 2xx (or a status in ``allow``),
        closed afterwards. A 3xx is a RedirectError naming its Location, 4xx and 5xx the
        server's own error. ``path`` may also be an absolute URL (sent without the token
        when ``auth`` is false)."""
        hdrs = {"Accept": "application/json", **(headers or {})}
        if auth and self._token:
            hdrs["Authorization"] = f"Bearer {self._token}"
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0), read=read_timeout or self.timeout)
        try:
            request = self._http.build_request(
                method, path, params=params, headers=hdrs, json=json, content=content, timeout=timeout
            )
            resp = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.server) from None
        except httpx.InvalidURL as exc:
            raise ClientError(f"cannot send {path}: {exc}", code="bad_server_url") from None
        try:
            if resp.status_code not in allow:
                self._check(resp, path)
            yield resp
        except httpx.TransportError as exc:  # while the caller read the answer
            raise transport_error(exc, self.server) from None
        finally:
            resp.close()

    def _check(self, resp: httpx.Response, path: str) -> None:
        status = resp.status_code
        if status < 300:
            return
        with contextlib.suppress(httpx.TransportError):
            resp.read()
        if status < 400:
            location = resp.headers.get("Location")
            raise RedirectError(
                f"{self.server} answered {path.split('?')[0]} with HTTP {status}, a redirect to "
                f"{location or '(no Location)'}; redirects are not followed: if that is the server, give its address",
                status=status,
                location=location,
            )
        raise server_error(resp)
