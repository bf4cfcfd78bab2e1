"""What the request handlers share: settings, the job store, the storage, the task sender."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from img2vid.settings import WebSettings
from img2vid.storage import Storage, open_storage
from img2vid.store import JobStore, TaskQueue, make_celery


@dataclass(frozen=True)
class Services:
    settings: WebSettings
    store: JobStore
    storage: Storage
    tasks: TaskQueue


def init_services(app: Flask, settings: WebSettings) -> Services:
    """Make the app's services; the Celery app goes in ``app.extensions["celery"]``, as
    Flask's own Celery pattern has it. The web side only sends tasks, by name."""
    celery = make_celery(settings.redis_url, settings.queue)
    app.extensions["celery"] = celery
    storage = open_storage(settings)
    storage.ensure()
    svc = Services(
        settings, JobStore.from_url(settings.redis_url, settings.key_prefix), storage, TaskQueue(celery, settings.queue)
    )
    app.extensions["img2vid"] = svc
    return svc


def services() -> Services:
    return current_app.extensions["img2vid"]
