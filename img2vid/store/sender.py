"""The one Celery app configuration and task sender that web and worker share: jobs
reach workers as the task ``img2vid.encode`` with the job's id, sent by name, so the
web side never imports the worker's code. Webhook deliveries go as ``img2vid.webhook``
with the job's id to a queue of their own, so that they never lie among the jobs'
messages (which broker.py counts) and a worker may be given to them alone.

Kombu's Redis transport takes messages of the highest priority (0) first. A job taken
back from a lost or stopping worker is sent at the top, so that it starts again at once
rather than behind everything queued since it first started.
"""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

from img2vid.errors import UnavailableError

log = logging.getLogger("img2vid.store")

ENCODE_TASK = "img2vid.encode"
WEBHOOK_TASK = "img2vid.webhook"
PRIORITY_NEW = 5
PRIORITY_RETAKEN = 0


def make_celery(redis_url: str, queue: str, **conf) -> Celery:
    """A Celery app on the broker at ``redis_url`` sending to ``queue``; ``conf`` adds
    to (or overrides) the settings every side shares."""
    app = Celery("img2vid", broker=redis_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Outcomes live in the job store; Celery keeps no results.
        task_ignore_result=True,
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 2},
        # With Redis gone, give up in about a second so that a client gets a 503.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5},
        **conf,
    )
    return app


class TaskQueue:
    """Sends jobs' encode tasks to ``queue``, webhook deliveries to ``webhook_queue``;
    UnavailableError when the broker is away."""

    def __init__(self, app: Celery, queue: str, webhook_queue: str = "") -> None:
        self._app = app
        self.queue = queue
        self.webhook_queue = webhook_queue or f"{queue}.webhooks"

    def send_new(self, job_ids: list[str]) -> None:
        """One task per new job, over one connection."""
        self._send(job_ids, PRIORITY_NEW)

    def send_retaken(self, job_id: str) -> None:
        """A job handed back or taken from a lost worker: ahead of those not yet started."""
        self._send([job_id], PRIORITY_RETAKEN)

    def send_webhooks(self, job_ids: list[str]) -> None:
        """One delivery task per job (webhooks.py claimed each first)."""
        self._send(job_ids, PRIORITY_NEW, WEBHOOK_TASK, self.webhook_queue)

    def _send(self, job_ids: list[str], priority: int, task: str = ENCODE_TASK, queue: str = "") -> None:
        try:
            with self._app.producer_or_acquire() as producer:
                for job_id in job_ids:
                    self._app.send_task(
                        task, args=[job_id], queue=queue or self.queue, priority=priority, producer=producer
                    )
        except (OperationalError, ConnectionError, OSError) as exc:
            log.warning("the queue (Redis) cannot be reached: %s", exc, extra={"event": "redis_unavailable"})
            raise UnavailableError("the queue (Redis) cannot be reached; try again in a minute") from exc
