"""``Client``: the img2vid job service's API for scripts, one method per call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypedDict
from urllib.parse import quote, urljoin, urlsplit

from img2vid.client import download as dl
from img2vid.client import follow
from img2vid.client.errors import ClientError, RedirectError
from img2vid.client.events import Event
from img2vid.client.http import Connection, default_server, default_token
from img2vid.client.upload import frames_of, upload_body

# The server's job JSON, exactly as GET /api/v1/jobs/<id> gives it: id, state,
# progress, queue_position, eta_seconds, attempts, owner, created_at, started_at,
# finished_at, spec, result, error (the README's "A job").
Job = dict[str, Any]


class JobList(TypedDict):
    """A page of jobs, newest first, as GET /api/v1/jobs gives it."""

    jobs: list[Job]
    total: int
    offset: int
    limit: int


class BatchResult(TypedDict):
    """POST /api/v1/batch's answer: per item ``{index, id, job}`` or ``{index, error, status}``."""

    accepted: int
    rejected: int
    jobs: list[dict[str, Any]]


class Client:
    """One img2vid server: ``with Client("http://127.0.0.1:8000") as c: ...``.

    ``server`` defaults to ``$IMG2VID_SERVER``, else http://127.0.0.1:8000; ``token``
    (for a server with IMG2VID_API_TOKENS) to ``$IMG2VID_TOKEN``. One connection is
    kept and reused from call to call; proxy settings (HTTP_PROXY, HTTPS_PROXY,
    NO_PROXY) are honoured; a redirect is never followed, but raised as RedirectError.
    ``timeout`` bounds connecting and each read (an upload's answer may take up to
    ``upload_timeout``: the server checks every frame first); ``poll_interval`` is how
    often ``wait`` asks when the server streams no events. Every refusal and failure is
    a ClientError carrying the server's ``code`` and HTTP ``status``.
    """

    def __init__(
        self,
        server: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        upload_timeout: float = 600.0,
        poll_interval: float = 1.0,
    ) -> None:
        self._conn = Connection(server or default_server(), default_token() if token is None else token, timeout)
        self.upload_timeout = upload_timeout
        self.poll_interval = poll_interval

    @property
    def server(self) -> str:
        return self._conn.server

    def close(self) -> None:
        """Close the connection; the client is not to be used afterwards."""
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def absolute(self, url: str) -> str:
        """A URL from the server's JSON (such as ``/api/v1/jobs/<id>/video``), made absolute."""
        return urljoin(self.server + "/", url)

    # --- jobs --------------------------------------------------------------------------

    def submit(
        self,
        source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        *,
        remote: str | None = None,
        pattern: str | None = None,
        fps: float | str | None = None,
        codec: str | None = None,
        size: str | None = None,
        fit: str | None = None,
        name: str | None = None,
        idempotency_key: str | None = None,
        **spec: Any,
    ) -> Job:
        """Create one job; the new job's JSON (state ``queued``).

        ``source`` is a local folder or glob of frames (found as ``img2vid encode`` finds
        them; ``pattern`` filters a folder's names) or a sequence of frame files: they
        are uploaded as one zip. Or ``remote`` names a folder under the server's input
        root instead, and nothing is uploaded. The other options are the job's spec
        (``fps``, ``codec``, ``size``, ``fit``, ``name``, and any other field the server
        takes); those not given take the server's defaults. ``idempotency_key``: the same
        key again returns the first job instead of making another.
        """
        given = {"fps": fps, "codec": codec, "size": size, "fit": fit, "name": name, **spec}
        given = {k: v for k, v in given.items() if v is not None}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if (source is None) == (remote is None):
            raise ClientError(
                "give source (local frames) or remote (a folder on the server), one of the two", code="bad_source"
            )
        if remote is not None:
            body = {"source": {"dir": remote, **({"pattern": pattern} if pattern else {})}, **given}
            return self._conn.json("POST", "/api/v1/jobs", json=body, headers=headers)
        frames = frames_of(source, pattern)
        with upload_body(frames, {k: str(v) for k, v in given.items()}) as body:
            return self._conn.json(
                "POST",
                "/api/v1/jobs",
                content=body.chunks(),
                headers={**headers, "Content-Type": body.content_type, "Content-Length": str(body.length)},
                read_timeout=max(self._conn.timeout, self.upload_timeout),
            )

    def batch(self, specs: Iterable[Mapping[str, Any]], **common: Any) -> BatchResult:
        """Create many jobs on folders of the server in one request. Each spec is a job's
        JSON (``{"source": {"dir": "shots/day1"}, "fps": 24}``), with ``common`` options
        under its own. Each item is accepted or rejected on its own: the answer lists the
        new jobs and the rejected items' errors (none accepted is an answer too, not an
        error); a batch refused as a whole (empty, too large) is a ClientError."""
        body = {"jobs": [{**common, **spec} for spec in specs]}
        return self._conn.json("POST", "/api/v1/batch", json=body, allow=(422,))

    def get(self, job_id: str) -> Job:
        """The job's JSON; ClientError ``job_not_found`` (404) for an unknown id."""
        return self._conn.json("GET", _job_path(job_id))

    def list(self, state: str | None = None, limit: int = 50, offset: int = 0) -> JobList:
        """A page of jobs, newest first (``limit`` 1-500), optionally in one ``state``;
        ``total`` counts them all."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if state:
            params["state"] = state
        return self._conn.json("GET", "/api/v1/jobs", params=params)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job (at once) or a running one (it stops within 2 s); the job.
        A finished job is a ClientError ``job_state`` (409)."""
        return self._conn.json("POST", _job_path(job_id, "cancel"))

    def retry(self, job_id: str) -> Job:
        """A new job with the same spec (and frames); the new job."""
        return self._conn.json("POST", _job_path(job_id, "retry"))

    def delete(self, job_id: str) -> None:
        """Remove a finished job and its files (a queued or running one is ``job_state``)."""
        self._conn.request("DELETE", _job_path(job_id))

    # --- following -----------------------------------------------------------------------

    def events(self, job_id: str | None = None, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's events as they happen, first its current state, ending after its
        finished event; with no ``job_id``, every job's the caller may see, never ending.
        ``last_event_id`` resumes after that event. A dropped connection is opened again
        by itself (with Last-Event-ID). EventsUnavailableError when the server streams
        no events."""
        return follow.stream(self._conn, job_id, last_event_id)

    def wait(self, job_id: str, timeout: float | None = None, on_event: Callable[[Event], object] | None = None) -> Job:
        """Wait until the job has finished (succeeded, failed or cancelled) and return its
        JSON; a failed job is returned, not raised. Follows its events, or polls where the
        server streams none; ``on_event`` is called with each event meanwhile (while
        polling, with an event of id None for each change). WaitTimeoutError after
        ``timeout`` seconds; the job goes on."""
        return follow.wait(self, job_id, timeout, on_event, self.poll_interval)

    def download(self, job_id: str, out: str | os.PathLike[str] | None = None) -> Path:
        """Save the video of a succeeded job; its path. ``out`` is the file to write, or a
        folder to put it in (default: here) under the server's file name. An existing file
        is never replaced (ClientError ``output_exists``) and a partial file never left:
        the bytes go to a temporary file beside it, moved into place when whole. The file
        is created as ``open()`` creates files (mode 0o666 less the umask)."""
        if out is not None and not Path(out).is_dir():
            dl.check_target(Path(out))  # before anything is fetched
        path = _job_path(job_id, "video")
        try:
            return self._save(path, {"download": "1"}, job_id, out, auth=True)
        except RedirectError as exc:
            # The S3 mode's presigned URL (IMG2VID_S3_PRESIGN_SECONDS): the one redirect
            # taken, to the store, and without the token.
            if exc.location is None or urlsplit(exc.location).scheme not in ("http", "https"):
                raise
            return self._save(exc.location, None, job_id, out, auth=False)

    def _save(self, url: str, params: Mapping[str, str] | None, job_id: str, out: Any, *, auth: bool) -> Path:
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        with self._conn.stream("GET", url, params=params, headers=headers, auth=auth) as resp:
            name = dl.attachment_name(resp.headers.get("Content-Disposition"))
            target = dl.target_for(out, name, dl.default_name(job_id, resp.headers.get("Content-Type")))
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            return dl.save(resp.iter_raw(), target, expected)


def _job_path(job_id: str, *rest: str) -> str:
    return "/".join([f"/api/v1/jobs/{quote(job_id, safe='')}", *rest])
