"""The webhook delivery task, ``img2vid.webhook`` (job id): one attempt to POST a
finished job's JSON to its webhook_url, signed per the Standard Webhooks spec, and its
outcome recorded on the job (img2vid/store/webhooks.py).

Its messages come on a queue of their own (IMG2VID_WEBHOOK_QUEUE), sent when a job
finishes and by the housekeeping sweep; a message finds the attempt already made, or
another one under way, and does nothing. The contract is at-least-once: a worker killed
mid-delivery leaves its claim to end, and the delivery is made again; a receiver tells
repeats apart by ``webhook-id``, the same for every attempt of one delivery.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

from img2vid import logs
from img2vid.job import Job
from img2vid.store import WEBHOOK_TASK
from img2vid.webhook_url import host_of
from worker.runtime import Runtime, runtime
from worker.webhook_post import Attempt, post
from worker.webhook_retry import plan, verdict

log = logging.getLogger(__name__)


# Its own limits, far below an encode's: one attempt takes seconds.
@runtime().celery.task(name=WEBHOOK_TASK, time_limit=60, soft_time_limit=45)
def deliver_webhook(job_id: str) -> str:
    rt = runtime()
    token = secrets.token_hex(8)
    with logs.job_context(job_id):
        began = rt.store.begin_webhook(job_id, token, rt.settings.webhook_claim_seconds)
        if began != "go":  # delivered, given up, under way elsewhere, not due yet, or gone
            log.debug("job %s: webhook message skipped (%s)", job_id, began, extra={"event": "webhook_skipped"})
            return began
        job = rt.store.get(job_id)
        if job is None:  # deleted this instant: the next claim finds it gone and drops it
            return "gone"
        if job.webhook is None or job.finished_at is None:  # not a delivery at all: drop it
            rt.store.record_webhook(job_id, token, "refused", "the job names no webhook_url", "give_up")
            return "give_up"
        return _attempt(rt, job, token)


def _attempt(rt: Runtime, job: Job, token: str) -> str:
    s = rt.settings
    assert job.webhook is not None and job.finished_at is not None
    number = job.webhook.attempts + 1
    if s.webhook_secret:
        attempt = post(job.webhook.url, *signed(job, s.webhook_secret), allow_private=s.webhook_allow_private)
    else:  # web refuses such jobs; this worker's operator turned webhooks off since
        attempt = Attempt("refused", "webhooks are off on the worker (IMG2VID_WEBHOOK_SECRET is not set)")
    outcome, delay = plan(
        attempt.status,
        number,
        schedule=s.webhook_retry_seconds,
        now=rt.store.server_time(),  # the finish was stamped on Redis's clock
        give_up_at=job.finished_at + s.webhook_give_up_seconds,
        retry_after_header=attempt.retry_after,
    )
    error = attempt.error
    if outcome == "give_up" and verdict(attempt.status) == "retry":
        error += f"; no retry {s.webhook_give_up_seconds:g} s past the job's end (IMG2VID_WEBHOOK_GIVE_UP_SECONDS)"
    if rt.store.record_webhook(job.id, token, attempt.status, error, outcome, delay):
        _log(job, number, attempt.status, outcome, delay, error)
    else:  # its claim ended meanwhile (a stall of many seconds: another attempt is the one
        # recorded), or the job was deleted
        logs.event(
            log,
            "webhook_attempt_not_recorded",
            f"job {job.id}: webhook attempt {number} ({attempt.status}) not recorded: its claim ended "
            "or the job is gone",
            level=logging.WARNING,
            status=attempt.status,
            attempt=number,
        )
    return outcome


def signed(job: Job, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body (the job's JSON, as GET /api/v1/jobs/<id> gives it) and the Standard
    Webhooks headers that sign it. The id names the delivery, so it is the same for each
    of its attempts; the timestamp is this attempt's."""
    body = json.dumps(job.api_json(), separators=(",", ":"), allow_nan=False).encode()
    msg_id = f"{job.id}.{job.state}"
    now = datetime.now(UTC)
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }


def _log(job: Job, number: int, status: int | str, outcome: str, delay: float, error: str) -> None:
    """One line per attempt (webhook_delivered or webhook_failed), and for a failure a
    second saying what comes next (webhook_retry_scheduled or webhook_gave_up)."""
    fields = {"status": status, "attempt": number, "receiver": host_of(job.webhook.url) if job.webhook else None}
    if outcome == "delivered":
        logs.event(log, "webhook_delivered", f"job {job.id}: webhook delivered at attempt {number}", **fields)
        return
    logs.event(log, "webhook_failed", f"job {job.id}: webhook attempt {number} failed: {error}", **fields)
    if outcome == "retry":
        message = f"job {job.id}: webhook attempt {number + 1} in {delay:.1f} s"
        logs.event(log, "webhook_retry_scheduled", message, retry_seconds=round(delay, 3), **fields)
    else:
        message = f"job {job.id}: webhook given up after {number} attempt(s): {error}"
        logs.event(log, "webhook_gave_up", message, level=logging.WARNING, **fields)
