"""The job store: the records of jobs in Redis, their leases, the /metrics counters, ETAs,
and the one Celery task sender web and worker share. The only code that knows a Redis key.
"""

from img2vid.store.jobstore import JobStore, new_job_id
from img2vid.store.metrics import Histogram, Snapshot
from img2vid.store.segments import Unit
from img2vid.store.sender import ENCODE_TASK, WEBHOOK_TASK, TaskQueue, make_celery
from img2vid.store.workers import WORKER_ALIVE_SECONDS

__all__ = [
    "ENCODE_TASK",
    "WEBHOOK_TASK",
    "WORKER_ALIVE_SECONDS",
    "Histogram",
    "JobStore",
    "Snapshot",
    "TaskQueue",
    "Unit",
    "make_celery",
    "new_job_id",
]
