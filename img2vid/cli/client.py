"""Talking to the img2vid job service over HTTP, with the standard library only.

Uploads are built as one multipart body (a ZIP_STORED archive of the frames) in a
temporary file and streamed from it, so memory stays flat whatever the frame count.
Every refusal by the server becomes a ``ClientError`` carrying the server's own code.
"""

from __future__ import annotations

import email.message
import http.client
import json
import os
import shutil
import socket
import ssl
import tempfile
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urljoin, urlsplit

from img2vid.errors import Img2VidError

DEFAULT_SERVER = "http://127.0.0.1:8000"
_CHUNK = 1 << 16


def default_server() -> str:
    return os.environ.get("IMG2VID_SERVER") or DEFAULT_SERVER


class ClientError(Img2VidError):
    """Raised when the server refuses a request (its code and message), cannot be reached,
    or a download cannot be saved."""

    code = "client_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, path=None) -> None:
        super().__init__(message, path=path)
        if code:
            self.code = code
        self.status = status


def write_upload(out: IO[bytes], frames: Iterable[Path], fields: Mapping[str, str], boundary: str) -> None:
    """Write a multipart/form-data body: ``fields`` as text parts, then ``frames`` as one
    zip (stored, not compressed; members named by the files' names, in order) in the
    ``archive`` part. The zip is written straight into ``out``, frame by frame."""
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode())
        out.write(str(value).encode() + b"\r\n")
    out.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="archive"; filename="frames.zip"\r\n'
        "Content-Type: application/zip\r\n\r\n".encode()
    )
    seen: dict[str, Path] = {}
    # strict_timestamps=False: a file dated before 1980 is stored as 1980, not refused.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, strict_timestamps=False) as archive:
        for path in frames:
            if path.name in seen:
                raise ClientError(
                    f"two frames are named {path.name} ({seen[path.name]} and {path}); "
                    "an upload needs distinct file names",
                    code="duplicate_frame_name",
                    path=path,
                )
            seen[path.name] = path
            archive.write(path, arcname=path.name)
    out.write(f"\r\n--{boundary}--\r\n".encode())


class Client:
    """One img2vid server, e.g. ``Client("http://127.0.0.1:8000")``."""

    def __init__(self, server: str, timeout: float = 60, token: str | None = None) -> None:
        self.server = server.rstrip("/")
        # A server with API_TOKENS needs one; from the environment, as a token on the
        # command line would show in `ps` and the shell's history.
        self._token = token if token is not None else os.environ.get("IMG2VID_TOKEN", "").strip()
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"the server must be an http:// or https:// URL, got {server!r}", code="bad_server_url")
        self._parts = parts
        self._base_path = parts.path.rstrip("/")
        self.timeout = timeout

    # --- the API ---------------------------------------------------------------------

    def submit_upload(
        self, frames: Iterable[Path], fields: Mapping[str, str], *, idempotency_key: str | None = None
    ) -> dict:
        """POST the frames as one zip with the spec's form fields; the job JSON."""
        boundary = f"img2vid-{uuid.uuid4().hex}"
        with tempfile.TemporaryFile(prefix="img2vid-upload-") as body:
            write_upload(body, frames, fields, boundary)
            length = body.tell()
            body.seek(0)
            headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **_key_header(idempotency_key)}
            # The server unpacks and checks every frame before it answers: allow it time.
            return self._json(
                "POST", "/api/v1/jobs", body=body, length=length, headers=headers, timeout=max(self.timeout, 600)
            )

    def submit_remote(self, spec: Mapping[str, Any], *, idempotency_key: str | None = None) -> dict:
        """POST a JSON job for a folder under the server's input root; the job JSON."""
        data = json.dumps(spec).encode()
        headers = {"Content-Type": "application/json", **_key_header(idempotency_key)}
        return self._json("POST", "/api/v1/jobs", body=data, length=len(data), headers=headers)

    def job(self, job_id: str) -> dict:
        return self._json("GET", f"/api/v1/jobs/{quote(job_id, safe='')}")

    def download_video(self, job_id: str, out: Path | None, default_name: str) -> Path:
        """Save the job's video to ``out`` (a file, or an existing folder to put it in;
        default: the name the server sends, else ``default_name``, here). An existing
        file is never replaced."""
        resp = self._request("GET", f"/api/v1/jobs/{quote(job_id, safe='')}/video?download=1")
        try:
            if out is not None and not out.is_dir():
                target = out
            else:
                target = (out or Path(".")) / (_attachment_name(resp.getheader("Content-Disposition")) or default_name)
            check_target(target)
            expected = resp.getheader("Content-Length")
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    shutil.copyfileobj(resp, f, _CHUNK)
                    got = f.tell()
                if expected is not None and got != int(expected):
                    raise ClientError(
                        f"the download of {target.name} stopped at {got:,} of {expected} bytes; try again",
                        code="download_incomplete",
                    )
                try:
                    os.link(tmp, target)  # fails, rather than replaces, if target appeared meanwhile
                except FileExistsError:
                    check_target(target)
                    raise
            finally:
                os.unlink(tmp)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                raise ClientError(f"cannot write {exc.filename}: {exc.strerror}", code="output_unwritable") from None
            raise self._broken(exc) from None
        finally:
            resp.close()
        return target

    def absolute(self, url: str) -> str:
        """A URL from the server's JSON (such as ``/api/v1/jobs/<id>/video``), made absolute."""
        return urljoin(self.server + "/", url)

    # --- HTTP ------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kw) -> dict:
        resp = self._request(method, path, **kw)
        try:
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self._broken(exc) from None
        finally:
            resp.close()
        try:
            return json.loads(payload)
        except ValueError:
            raise ClientError(
                f"{self.server} answered {path} with something other than JSON; is it an img2vid server?",
                code="bad_response",
            ) from None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        p = self._parts
        if p.scheme == "https":
            return http.client.HTTPSConnection(
                p.hostname, p.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(p.hostname, p.port, timeout=timeout)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | IO[bytes] | None = None,
        length: int | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> http.client.HTTPResponse:
        """Send one request; the open response when it is 2xx, else ClientError with the
        server's code. The caller reads and closes the response."""
        conn = self._connection(timeout or self.timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise ClientError(
                f"cannot reach the img2vid server at {self.server}: {_reason(exc)}", code="server_unreachable"
            ) from None
        try:
            conn.putrequest(method, self._base_path + path)
            conn.putheader("Accept", "application/json")
            if self._token:
                conn.putheader("Authorization", f"Bearer {self._token}")
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            if body is not None:
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            if body is not None:
                _send(conn, body)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._broken(exc) from None
        if resp.status >= 400:
            try:
                payload = resp.read()
            except (OSError, http.client.HTTPException):
                payload = b""
            finally:
                resp.close()
            raise _server_error(resp.status, resp.reason, payload)
        return resp

    def _broken(self, exc: BaseException) -> ClientError:
        return ClientError(f"the connection to {self.server} failed: {_reason(exc)}", code="connection_failed")


def _send(conn: http.client.HTTPConnection, body: bytes | IO[bytes]) -> None:
    """Send the body; if the server answers early (a 413 before reading it all) and closes,
    stop sending and let getresponse() read that answer."""
    try:
        if isinstance(body, bytes):
            conn.send(body)
        else:
            while chunk := body.read(_CHUNK):
                conn.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _server_error(status: int, reason: str, payload: bytes) -> ClientError:
    try:
        err = json.loads(payload)["error"]
        return ClientError(str(err["message"]), code=str(err["code"]), status=status, path=err.get("path"))
    except (ValueError, KeyError, TypeError):
        return ClientError(f"the server answered HTTP {status} {reason}", code=f"http_{status}", status=status)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _key_header(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def _attachment_name(header: str | None) -> str | None:
    """The file name in a Content-Disposition header, reduced to a safe base name."""
    if not header:
        return None
    msg = email.message.Message()
    msg["Content-Disposition"] = header
    name = msg.get_filename()
    if not name:
        return None
    name = os.path.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") and not name.startswith(".") else None


def check_target(target: Path) -> None:
    """Refuse a download target that exists, or whose folder does not."""
    if not target.parent.is_dir():
        raise ClientError(
            f"cannot write {target}: the folder {target.parent} does not exist", code="output_unwritable", path=target
        )
    if target.exists() or target.is_symlink():
        raise ClientError(f"{target} already exists; remove it or pass another -o", code="output_exists", path=target)
