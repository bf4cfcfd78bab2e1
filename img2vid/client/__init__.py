"""The img2vid job service from Python: ``Client``, one typed method per API call.

    from img2vid.client import Client

    with Client("http://127.0.0.1:8000") as c:          # token: $IMG2VID_TOKEN
        job = c.submit("shots/day1", fps=24, codec="h264")
        job = c.wait(job["id"])                         # by its events, else polling
        if job["state"] == "succeeded":
            print(c.download(job["id"], "day1.mp4"))

It needs only the core (httpx; no Flask, Celery, Redis or OpenCV). Jobs are the
server's JSON as plain dicts; every refusal or failure is a ``ClientError`` (an
``Img2VidError``) carrying the server's ``code`` and HTTP ``status``.

The modules, one concept each: ``api`` (Client), ``http`` (the connection), ``errors``,
``upload`` (the multipart body), ``events`` (the event-stream parser), ``follow``
(streams with reconnects, waiting, polling), ``download`` (saving a file safely).
"""

from img2vid.client.api import BatchResult, Client, Job, JobList
from img2vid.client.download import check_target
from img2vid.client.errors import (
    ClientError,
    EventsUnavailableError,
    JobFailedError,
    RedirectError,
    ServerUnreachableError,
    WaitTimeoutError,
)
from img2vid.client.events import EVENT_TYPES, FINISHED, Event
from img2vid.client.http import DEFAULT_SERVER, default_server
from img2vid.client.upload import write_upload

__all__ = [
    "DEFAULT_SERVER",
    "EVENT_TYPES",
    "FINISHED",
    "BatchResult",
    "Client",
    "ClientError",
    "Event",
    "EventsUnavailableError",
    "Job",
    "JobFailedError",
    "JobList",
    "RedirectError",
    "ServerUnreachableError",
    "WaitTimeoutError",
    "check_target",
    "default_server",
    "write_upload",
]
