"""The Celery app: delivery settings, and the worker's heartbeat and housekeeping."""

from __future__ import annotations

from celery import Celery
from celery.signals import celeryd_init, setup_logging, worker_ready, worker_shutdown, worker_shutting_down

from img2vid.errors import ConfigError
from img2vid.settings import TIME_LIMIT_GRACE, Settings


def make_celery(settings: Settings | None = None) -> Celery:
    s = settings or Settings.from_env()
    app = Celery("img2vid", broker=s.redis_url, include=["worker.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        # Outcomes live in the job store; Celery keeps no results.
        task_ignore_result=True,
        task_default_queue=s.queue,
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
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_connect_timeout": 2},
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app


try:
    app = make_celery()
except ConfigError as exc:  # one line naming the setting, as `celery worker` starts
    raise SystemExit(exc.message) from None


@celeryd_init.connect
def _json_logs_early(options=None, **_):
    from .celery_logs import setup

    setup((options or {}).get("loglevel"))


@setup_logging.connect
def _json_logs(loglevel=None, **_):
    # Connected, so Celery configures no logging of its own (worker/celery_logs.py).
    from .celery_logs import setup

    setup(loglevel)


@worker_ready.connect
def _start_housekeeping(sender, **_):
    from .housekeeping import Housekeeping

    Housekeeping.launch(sender.hostname)


@worker_shutting_down.connect
def _hand_back_running_jobs(sender, **_):
    # Sent in the main process on SIGTERM/SIGINT (warm shutdown), before it waits for
    # the running tasks; sender is the worker's hostname.
    from .housekeeping import Housekeeping

    Housekeeping.draining(str(sender))


@worker_shutdown.connect
def _stop_housekeeping(sender, **_):
    from .housekeeping import Housekeeping

    Housekeeping.shutdown(sender.hostname)
