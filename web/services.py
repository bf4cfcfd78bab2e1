"""What the request handlers share: settings, the job store, the volume, the task sender."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Celery
from flask import current_app
from kombu.exceptions import OperationalError

from img2vid.errors import UnavailableError
from img2vid.jobstore import JobStore
from img2vid.queueing import ENCODE_TASK, PRIORITY_NEW
from img2vid.settings import Settings
from img2vid.volume import Volume

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: JobStore
    volume: Volume
    celery: Celery

    @classmethod
    def create(cls, settings: Settings) -> "Services":
        celery = Celery("img2vid-web", broker=settings.redis_url, set_as_current=False)
        celery.conf.update(
            task_serializer="json",
            accept_content=["json"],
            task_default_queue=settings.queue,
            broker_transport_options={"socket_connect_timeout": 2},
            # With Redis gone, give up in about a second so the client gets a 503.
            task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5},
        )
        volume = Volume(settings.data_dir)
        volume.ensure()
        return cls(settings, JobStore.from_url(settings.redis_url, settings.key_prefix), volume, celery)

    def enqueue(self, job_ids: list[str]) -> None:
        """Send one encode task per job, over one connection."""
        try:
            with self.celery.producer_or_acquire() as producer:
                for job_id in job_ids:
                    self.celery.send_task(ENCODE_TASK, args=[job_id], queue=self.settings.queue,
                                          priority=PRIORITY_NEW, producer=producer)
        except (OperationalError, ConnectionError, OSError) as exc:
            log.warning("the queue (Redis) cannot be reached: %s", exc, extra={"event": "redis_unavailable"})
            raise UnavailableError("the queue (Redis) cannot be reached; try again in a minute") from exc


def services() -> Services:
    return current_app.extensions["img2vid"]
