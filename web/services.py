"""What the request handlers share: settings, the job store, the storage, the task sender,
the event hub."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from img2vid.settings import WebSettings
from img2vid.storage import Storage, open_storage
from img2vid.store import JobStore, TaskQueue, make_celery
from web.events import EventHub


@dataclass(frozen=True)
class Services:
    settings: WebSettings
    store: JobStore
    storage: Storage
    tasks: TaskQueue
    events: EventHub


def init_services(app: Flask, settings: WebSettings) -> Services:
    """Make the app's services; the Celery app goes in ``app.extensions["celery"]``, as
    Flask's own Celery pattern has it. The web side only sends tasks, by name."""
    celery = make_celery(settings.redis_url, settings.queue)
    app.extensions["celery"] = celery
    storage = open_storage(settings)
    storage.ensure()
    store = JobStore.from_url(settings.redis_url, settings.key_prefix)
    tasks = TaskQueue(celery, settings.queue, settings.webhook_queue_name)
    svc = Services(settings, store, storage, tasks, EventHub(store, settings.max_event_streams))
    app.extensions["img2vid"] = svc
    return svc


def services() -> Services:
    return current_app.extensions["img2vid"]
