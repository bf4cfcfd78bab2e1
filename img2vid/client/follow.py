"""Following jobs: the event streams (``GET /api/v1/jobs/<id>/events``, ``GET
/api/v1/events``) read with reconnects, and waiting for a job to finish, by its events
or, where the server offers none, by polling its JSON."""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from img2vid.client.errors import ClientError, EventsUnavailableError, ServerUnreachableError, WaitTimeoutError
from img2vid.client.events import FINISHED, Event, EventParser, job_event, polled_event

if TYPE_CHECKING:
    from img2vid.client.http import Connection

# The server sends a comment every ~15 s: a read that waits longer than this is a dead
# connection, not a quiet job.
READ_TIMEOUT = 60.0
# A stream that drops is opened again (with Last-Event-ID) this many times in a row,
# after 0.5, 1, 2 s (or the server's retry: time), before it counts as unavailable.
RECONNECTS = 3
BACKOFF = 0.5
MAX_BACKOFF = 5.0
# While polling, ride out a server restart or a Redis blip for this long.
OUTAGE_SECONDS = 30.0
# After a job's last event, how long to look for the end of its stream, so that the
# connection can serve the next call.
DRAIN_SECONDS = 0.25
# A job's stream quiet this long (heartbeats only) while waiting: its JSON is asked for
# once, in case an event was lost, so a wait never outlasts the job by more than this.
QUIET_SECONDS = 5.0


def transient(exc: ClientError) -> bool:
    """Whether asking again later may well succeed: no answer, or a busy or restarting server."""
    return isinstance(exc, ServerUnreachableError) or exc.status in (429, 500, 502, 503, 504)


def stream(
    conn: Connection,
    job_id: str | None,
    last_event_id: str | None = None,
    deadline: float | None = None,
) -> Iterator[Event]:
    """The events of one job (ending after its finished event) or of all jobs (never
    ending by itself). A dropped connection is opened again with ``Last-Event-ID``;
    EventsUnavailableError when the server has no stream to give, the last error when it
    fails RECONNECTS times in a row, WaitTimeoutError once ``deadline`` (monotonic) passes."""
    return (event for event in _stream(conn, job_id, last_event_id, deadline) if event is not None)


def _stream(
    conn: Connection, job_id: str | None, last_event_id: str | None, deadline: float | None
) -> Iterator[Event | None]:
    """``stream``, with a None after each piece of the stream that held no event (a
    heartbeat), so that a follower can look at the clock."""
    path = f"/api/v1/jobs/{quote(job_id, safe='')}/events" if job_id else "/api/v1/events"
    last_id, retry_ms, failures = last_event_id, None, 0
    last_job: dict[str, Any] = {}
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", "Accept-Encoding": "identity"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        error: ClientError | None = None
        try:
            with conn.stream("GET", path, headers=headers, read_timeout=_read_timeout(deadline)) as resp:
                kind = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if kind != "text/event-stream":
                    raise EventsUnavailableError(
                        f"{conn.server} answered {path} with {kind or 'no content type'}, not an event stream",
                        status=resp.status_code,
                    )
                parser = EventParser()
                chunks = resp.iter_raw()
                for chunk in chunks:
                    events = 0
                    for raw in parser.feed(chunk):
                        last_id = raw.id or last_id
                        event = job_event(raw)
                        if event is None:
                            continue
                        failures, last_job, events = 0, event.job, events + 1
                        if job_id and event.finished:
                            _drain(resp, chunks)
                            yield event
                            return
                        yield event
                    if not events:
                        yield None
                    retry_ms = parser.retry_ms or retry_ms
                    _check_deadline(deadline, job_id, last_job)
        except ClientError as exc:
            if (exc.status == 404 and exc.code != "job_not_found") or exc.status in (405, 406, 501):
                raise EventsUnavailableError(
                    f"{conn.server} has no event stream at {path} (HTTP {exc.status})", status=exc.status
                ) from None
            if not transient(exc):
                raise
            error = exc
        failures += 1
        _check_deadline(deadline, job_id, last_job)
        if failures > RECONNECTS:
            raise error or EventsUnavailableError(f"the event stream at {path} keeps ending without an event")
        pause = retry_ms / 1000 if retry_ms is not None else BACKOFF * 2 ** (failures - 1)
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - time.monotonic()))
        time.sleep(min(pause, MAX_BACKOFF))


def wait(
    client: Any,
    job_id: str,
    timeout: float | None,
    on_event: Callable[[Event], object] | None,
    poll_interval: float,
) -> dict[str, Any]:
    """Wait for the job to finish; its final JSON. Events while the server streams them,
    else polls of its JSON every ``poll_interval`` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    job = client.get(job_id)
    if job["state"] in FINISHED:
        return job
    try:
        try:
            heard = time.monotonic()
            for event in _stream(client._conn, job_id, None, deadline):
                if event is None:  # a heartbeat
                    if time.monotonic() - heard < QUIET_SECONDS:
                        continue
                    heard, event = time.monotonic(), polled_event(client.get(job_id))
                    if not event.finished:
                        continue
                heard, job = time.monotonic(), event.job
                if on_event is not None:
                    on_event(event)
                if event.finished:
                    return job
        except WaitTimeoutError:
            raise
        except ClientError as exc:
            if not (isinstance(exc, EventsUnavailableError) or transient(exc)):
                raise
        return poll(client, job_id, deadline, on_event, poll_interval, job)
    except WaitTimeoutError as exc:
        job = exc.job or job
        raise WaitTimeoutError(
            f"job {job_id} is still {job.get('state', 'not finished')} after {timeout:g} s; it goes on", job=job
        ) from None


def poll(
    client: Any,
    job_id: str,
    deadline: float | None,
    on_event: Callable[[Event], object] | None,
    interval: float,
    job: dict[str, Any],
) -> dict[str, Any]:
    """Wait for the job by asking for its JSON every ``interval`` s; on_event gets a
    made-up event (id None) whenever the job changed."""
    trouble_since: float | None = None
    seen = None
    while True:
        try:
            job = client.get(job_id)
        except ClientError as exc:
            if not transient(exc):
                raise
            trouble_since = trouble_since or time.monotonic()
            if time.monotonic() - trouble_since > OUTAGE_SECONDS:
                raise
        else:
            trouble_since = None
            if on_event is not None and job != seen:
                on_event(polled_event(job))
            seen = job
            if job["state"] in FINISHED:
                return job
        _check_deadline(deadline, job_id, job)
        pause = interval if deadline is None else min(interval, max(0.0, deadline - time.monotonic()))
        time.sleep(pause)


def _read_timeout(deadline: float | None) -> float:
    if deadline is None:
        return READ_TIMEOUT
    return max(0.05, min(READ_TIMEOUT, deadline - time.monotonic()))


def _check_deadline(deadline: float | None, job_id: str | None, job: dict[str, Any]) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        state = job.get("state", "not finished")
        raise WaitTimeoutError(f"job {job_id} is still {state}; it goes on", job=job)


def _drain(resp: httpx.Response, chunks: Iterator[bytes]) -> None:
    """Read the end of a job's stream when it comes at once (the server closes the stream
    after the finished event), so the connection goes back to the pool for the next call;
    else leave it to be closed."""
    network = resp.extensions.get("network_stream")
    sock = network.get_extra_info("socket") if network is not None else None
    if sock is None:
        return
    until = time.monotonic() + DRAIN_SECONDS
    try:
        while (left := until - time.monotonic()) > 0 and select.select([sock], [], [], left)[0]:
            next(chunks)  # more after the last event: read on while it comes at once
    except (StopIteration, OSError, ValueError, httpx.HTTPError):
        return
