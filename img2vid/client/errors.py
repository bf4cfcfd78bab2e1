"""What the client raises: every one a ``ClientError`` (an ``Img2VidError``), with the
server's own ``code`` and HTTP ``status`` when the server refused the request."""

from __future__ import annotations

import socket
from typing import Any

import httpx

from img2vid.errors import Img2VidError


class ClientError(Img2VidError):
    """Raised when the server refuses a request (its code, message and status), cannot
    be reached, or a download cannot be saved."""

    code = "client_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, path: Any = None) -> None:
        super().__init__(message, path=path, code=code)
        self.status = status


class ServerUnreachableError(ClientError):
    """Raised when no answer comes: the connection is refused, the name unknown, the
    request timed out, or the connection broke (``server_unreachable``,
    ``connection_failed``, ``download_incomplete``)."""

    code = "server_unreachable"


class RedirectError(ClientError):
    """Raised when the server answers with a redirect (3xx): the client never follows one
    by itself, so the message names where it points."""

    code = "redirected"

    def __init__(self, message: str, *, status: int, location: str | None) -> None:
        super().__init__(message, status=status)
        self.location = location


class EventsUnavailableError(ClientError):
    """Raised when the server offers no event stream for a job (no such route, or an
    answer that is not ``text/event-stream``); ``Client.wait`` polls instead."""

    code = "events_unavailable"


class WaitTimeoutError(ClientError):
    """Raised when ``Client.wait``'s timeout passes before the job has finished (the job
    itself goes on); ``job`` is its last state seen."""

    code = "wait_timeout"

    def __init__(self, message: str, *, job: dict) -> None:
        super().__init__(message)
        self.job = job


class JobFailedError(ClientError):
    """Raised (by the command line) for a job that ended failed or cancelled; ``job`` is
    its JSON, and the code and message are the job's own error."""

    code = "job_failed"

    def __init__(self, job: dict) -> None:
        err = job.get("error") or {}
        super().__init__(
            err.get("message") or f"job {job.get('id')} was {job.get('state')}",
            code=err.get("code") or job.get("state"),
            path=err.get("path"),
        )
        self.job = job


def server_error(response: httpx.Response) -> ClientError:
    """The ClientError for an answer of 400 or more: the server's own code and message
    when it sent its JSON error, else the HTTP status."""
    status = response.status_code
    try:
        err = response.json()["error"]
        return ClientError(str(err["message"]), code=str(err["code"]), status=status, path=err.get("path"))
    except (ValueError, KeyError, TypeError):
        phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
        return ClientError(f"the server answered HTTP {status}{phrase}", code=f"http_{status}", status=status)


def transport_error(exc: httpx.TransportError, server: str) -> ServerUnreachableError:
    """The error for a request that got no answer, naming the server and the reason."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)):
        via = " (through the proxy)" if isinstance(exc, httpx.ProxyError) else ""
        return ServerUnreachableError(f"cannot reach the img2vid server at {server}{via}: {reason(exc)}")
    return ServerUnreachableError(f"the connection to {server} failed: {reason(exc)}", code="connection_failed")


def reason(exc: BaseException) -> str:
    """A short reason for a failed connection: the OS's words, never a traceback."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"unknown host ({cause.strerror})"
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return "timed out"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection mid-answer"
    text = str(exc)
    if "[Errno" in text:  # "[Errno 111] Connection refused"
        text = text.split("]", 1)[-1].strip()
    return text.lower() if text else type(exc).__name__
