"""The worker process's settings, job store, storage and Celery app, made once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from celery import Celery
from kombu import Exchange, Queue

from img2vid.engine.memory import keep_frames_out_of_the_heap
from img2vid.settings import TIME_LIMIT_GRACE, WorkerSettings
from img2vid.storage import Storage, open_storage
from img2vid.store import JobStore, TaskQueue, make_celery


@dataclass(frozen=True)
class Runtime:
    settings: WorkerSettings
    store: JobStore
    storage: Storage
    celery: Celery
    tasks: TaskQueue


def _queue(name: str) -> Queue:
    # As Celery makes a queue it is only named: a direct exchange of the same name.
    return Queue(name, Exchange(name), routing_key=name)


def make_worker_celery(s: WorkerSettings) -> Celery:
    return make_celery(
        s.redis_url,
        s.queue,
        include=["worker.tasks", "worker.webhooks"],
        # The queues a plain `celery --app worker worker` consumes: the jobs' and the
        # webhook deliveries'. `-Q <one of them>` makes a worker for that one alone.
        task_queues=[_queue(s.queue), _queue(s.webhook_queue_name)],
        # A job is acknowledged only when it has finished, and a worker that dies
        # mid-job hands it back rather than losing it; one job at a time per process.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=s.worker_concurrency,
        # The job's own limit is checked by its run (worker/lease.py) and fails it as
        # time_limit_exceeded; Celery's soft limit is the backstop for a run stuck where
        # it cannot look, and its hard limit kills the process (then the lease ends and
        # the job is run again, as for any lost worker).
        task_soft_time_limit=s.task_time_limit + TIME_LIMIT_GRACE // 2,
        task_time_limit=s.task_time_limit + TIME_LIMIT_GRACE,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Raises ConfigError naming every setting that is wrong."""
    settings = WorkerSettings.from_env()
    keep_frames_out_of_the_heap()  # before the pool forks: its children inherit it
    # Mid-job, a store that is away is waited for (IMG2VID_S3_RETRY_SECONDS): the lease
    # holds meanwhile, and the job finishes when it is back.
    storage = open_storage(settings, retry_seconds=settings.s3_retry_seconds)
    storage.ensure()
    celery = make_worker_celery(settings)
    return Runtime(
        settings,
        JobStore.from_url(settings.redis_url, settings.key_prefix),
        storage,
        celery,
        TaskQueue(celery, settings.queue, settings.webhook_queue_name),
    )
