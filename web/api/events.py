"""Job events as Server-Sent Events: one job's (``/jobs/<id>/events``, ending with its
outcome) or every job the caller may see (``/events``). The text and the hub that feeds
it are web/events.py's; auth and ownership are the JSON API's."""

from __future__ import annotations

from flask import Response, request

from img2vid.errors import UnavailableError
from web import actions
from web.api.blueprint import api
from web.auth import owner_filter
from web.events import seen_the_end, stream
from web.services import services


class StreamsFullError(UnavailableError):
    """Raised when a web process has as many event streams open as it may."""

    code = "too_many_streams"


HEADERS = {
    "Cache-Control": "no-cache",
    # A proxy that buffers answers (nginx does) would hold the events back.
    "X-Accel-Buffering": "no",
}


def _respond(job_id: str | None, owner: str | None) -> Response:
    svc = services()
    if svc.events.full():
        # The threads beyond the streams are the API's: one more stream would take one.
        raise StreamsFullError(
            f"this web process has {svc.settings.max_event_streams} event streams open "
            "(IMG2VID_MAX_EVENT_STREAMS); poll GET /api/v1/jobs/<id>, or try again"
        )
    svc.store.latest_event_id()  # Redis away: 503 now, rather than a stream that breaks
    text = stream(
        svc.events,
        svc.store,
        (job_id, owner),
        request.headers.get("Last-Event-ID"),
        svc.settings.events_heartbeat_seconds,
    )
    return Response(text, mimetype="text/event-stream", headers=HEADERS)


@api.get("/jobs/<job_id>/events")
def job_events(job_id: str):
    job = actions.visible_job(job_id)  # 404 for a job this caller may not see
    if seen_the_end(services().store, job, request.headers.get("Last-Event-ID")):
        # An EventSource reconnects to a stream that ends, but never after a 204.
        return Response(status=204)
    return _respond(job_id, None)


@api.get("/events")
def all_events():
    return _respond(None, owner_filter())
