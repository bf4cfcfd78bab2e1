"""Webhook deliveries as the store keeps them: which are due, who is sending which, and
each attempt's outcome on the job's record (webhook_scripts.py says how). Two ways a
delivery's message is sent, both claiming it first so that one is sent, not two: at
once when its job finishes (``send_if_due``: the worker that finished it, or web for a
cancel), and by the sweep (``send_due``: retries, and messages that were lost)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis

from img2vid import logs
from img2vid.errors import Img2VidError
from img2vid.store.base import StoreBase

if TYPE_CHECKING:  # the store's records load no Celery
    from img2vid.store.sender import TaskQueue

log = logging.getLogger("img2vid.store")

# Deliveries one sweep sends at most; the rest wait for the next beat.
SWEEP_BATCH = 200


class WebhooksMixin(StoreBase):
    def _webhook(self, script: str, job_id: str, *args):
        return self._scripts[script](keys=[self._keys.job(job_id), self._keys.webhooks_due], args=[job_id, *args])

    def claim_due_webhooks(self, claim_seconds: float, limit: int = SWEEP_BATCH) -> list[str]:
        """The ids of deliveries due now, each claimed for ``claim_seconds``."""
        return self._scripts["webhook_claim_due"](keys=[self._keys.webhooks_due], args=[claim_seconds, limit])

    def claim_webhook(self, job_id: str, claim_seconds: float) -> bool:
        """Claim the job's delivery if it is due now; False when there is none to claim."""
        return self._webhook("webhook_claim_one", job_id, claim_seconds) == 1

    def begin_webhook(self, job_id: str, token: str, lease_seconds: float) -> str:
        """Make the attempt ``token``'s for ``lease_seconds``: 'go', or why not ('gone',
        'done', 'busy', 'later')."""
        return self._webhook("webhook_begin", job_id, token, lease_seconds)

    def record_webhook(
        self, job_id: str, token: str, status: int | str, error: str, outcome: str, retry_seconds: float = 0.0
    ) -> int:
        """Record attempt ``token``'s ``status`` and ``outcome`` ('delivered', 'retry' in
        ``retry_seconds``, 'give_up'); the attempts so far, or 0 if it was not its to record."""
        assert outcome in ("delivered", "retry", "give_up")
        return int(self._webhook("webhook_record", job_id, token, str(status), error, outcome, retry_seconds))

    def webhooks_due(self) -> int:
        """Deliveries not yet delivered nor given up (claimed ones too)."""
        return int(self._redis.zcard(self._keys.webhooks_due))


def send_if_due(store: WebhooksMixin, tasks: TaskQueue, job_id: str, claim_seconds: float) -> bool:
    """The fast path, right after a job finished: its delivery's message, if it has one
    due. Never fails the caller: whatever is not sent now the sweep sends later."""
    try:
        if store.claim_webhook(job_id, claim_seconds):
            tasks.send_webhooks([job_id])
            return True
    except (redis.RedisError, Img2VidError) as exc:
        logs.event(
            log,
            "webhook_not_sent",
            f"job {job_id}: webhook message not sent now ({exc}); the sweep sends it",
            level=logging.WARNING,
            job_id=job_id,
        )
    return False


def send_due(store: WebhooksMixin, tasks: TaskQueue, claim_seconds: float) -> list[str]:
    """The sweep: a message for every delivery due (retries, and claims that ended)."""
    ids = store.claim_due_webhooks(claim_seconds)
    if ids:
        tasks.send_webhooks(ids)
    return ids
