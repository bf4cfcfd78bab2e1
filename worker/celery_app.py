"""The Celery app (``celery --app worker worker``), and what the worker does at its
signals: JSON logs, then housekeeping from ready to shutdown."""

from __future__ import annotations

from celery.signals import celeryd_init, setup_logging, worker_ready, worker_shutdown, worker_shutting_down

from worker import celery_logs
from worker.housekeeping import Housekeeping
from worker.runtime import runtime

app = runtime().celery


@celeryd_init.connect
def _json_logs_early(options=None, **_):
    celery_logs.setup((options or {}).get("loglevel"))


@setup_logging.connect
def _json_logs(loglevel=None, **_):
    # Connected, so Celery configures no logging of its own (worker/celery_logs.py).
    celery_logs.setup(loglevel)
    celery_logs.say_renamed(runtime().settings)


@worker_ready.connect
def _start_housekeeping(sender, **_):
    Housekeeping.launch(sender.hostname)


@worker_shutting_down.connect
def _hand_back_running_jobs(sender, **_):
    # Sent in the main process on SIGTERM/SIGINT (warm shutdown), before it waits for
    # the running tasks; sender is the worker's hostname.
    Housekeeping.draining(str(sender))


@worker_shutdown.connect
def _stop_housekeeping(sender, **_):
    Housekeeping.shutdown(sender.hostname)
