"""The worker's logs as JSON lines (img2vid/logs.py), Celery's own included.

Set up twice on purpose: at ``celeryd_init``, so that what Celery says before its logging
is configured (the warning about running as root) is a JSON line too, and again at
``setup_logging`` with the level from ``--loglevel``. A receiver on ``setup_logging``
makes Celery configure no logging of its own: no handlers, no redirect of stdout. The
pool's forked children inherit the root logger's handler.

What stays plain text: Celery's banner (the worker runs with ``--quiet``) and the line
its signal handler writes straight to stdout on a stop ("worker: Warm shutdown").
"""

from __future__ import annotations

import logging
import re

from img2vid import logs
from img2vid.store import ENCODE_TASK

# Celery's "Task img2vid.encode[<task id>] received / succeeded" lines carry the task's
# arguments as text in ``data``: our task's one argument is the job id.
_JOB_ARG = re.compile(r"^\['([0-9a-f]+)'\]$")


class JobIdFromTask(logging.Filter):
    """Give Celery's lines about one of our tasks the job's id, as our own lines have."""

    def filter(self, record: logging.LogRecord) -> bool:
        data = record.__dict__.get("data")
        if isinstance(data, dict) and data.get("name") == ENCODE_TASK and "job_id" not in record.__dict__:
            m = _JOB_ARG.match(str(data.get("args", "")))
            if m:
                record.job_id = m.group(1)
        return True


def setup(loglevel) -> None:
    handler = logs.setup("worker", loglevel or "INFO")
    handler.addFilter(JobIdFromTask())


def say_renamed(settings) -> None:
    """A line for each setting given by its old name."""
    for line in settings.renamed_variables():
        logs.event(logging.getLogger("worker"), "setting_renamed", line, level=logging.WARNING)
