"""The job store: job records in Redis, the source of truth for every job's state,
progress and result.

Celery only carries "run job <id>"; what a client sees comes from here, so an unknown id
is a plain 404 and never Celery's eternal PENDING. ``JobStore`` is made of one part per
concern, each in its own module: the records (jobs.py), runs and their leases
(runs.py), workers and locks (workers.py), ETAs (eta.py), Idempotency-Keys
(idempotency.py), the /metrics counters (metrics.py), the broker's lists
(broker.py) and webhook deliveries (webhooks.py). Only this package knows a Redis key
(keys.py).
"""

from __future__ import annotations

import secrets
import time

from img2vid.store.broker import BrokerMixin
from img2vid.store.idempotency import IdempotencyMixin
from img2vid.store.metrics import MetricsMixin
from img2vid.store.runs import RunsMixin
from img2vid.store.webhooks import WebhooksMixin


def new_job_id() -> str:
    # Sortable by creation time to the millisecond, then random: short, URL-safe.
    return f"{int(time.time() * 1000):x}{secrets.token_hex(5)}"


class JobStore(RunsMixin, IdempotencyMixin, MetricsMixin, BrokerMixin, WebhooksMixin):
    """``JobStore.from_url(redis_url, prefix)``; every key it writes starts with ``prefix``."""
