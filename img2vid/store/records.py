"""A job's record in Redis: one hash, made from the Job model and read back into it.

The scripts (scripts.py) add the fields of a run beside these (lease, lease_until,
cancel, deaths, a split job's segments); they stay in the store. A job with a webhook
also gets ``webhook_*`` fields as its delivery is tried (webhook_scripts.py), shown as
its ``webhook``. A record written by an older version may hold
fields no longer read (``source``), which are ignored.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import BaseModel

from img2vid.job import Job, JobSpec


def to_hash(job: Job) -> dict[str, str | int]:
    """The fields of a new (queued) job's hash."""
    # allow_nan=False: what is not strict JSON fails here, rather than in every later
    # listing of it.
    return {
        "id": job.id,
        "state": job.state,
        "spec": json.dumps(job.spec.model_dump(mode="json"), allow_nan=False),
        "created_at": repr(job.created_at),
        "frames_total": job.frames_total,
        "frames_done": job.frames_done,
        "attempts": job.attempts,
        "upload": "1" if job.upload else "0",
        "owner": job.owner or "",
    }


def outcome_json(value: BaseModel | None) -> str:
    """A result or error as the record keeps it ("" for none): every field, those the API
    does not show included (a result's file name)."""
    if value is None:
        return ""
    return json.dumps({name: getattr(value, name) for name in type(value).model_fields}, allow_nan=False)


def from_hash(h: dict[str, str]) -> Job:
    def number(name: str) -> float | None:
        v = h.get(name)
        return float(v) if v not in (None, "") else None

    spec = _stored_spec(h.get("spec") or "{}")
    return Job.model_validate(
        {
            "id": h["id"],
            "state": h["state"],
            "spec": spec,
            "created_at": float(h["created_at"]),
            "started_at": number("started_at"),
            "finished_at": number("finished_at"),
            "frames_total": int(h.get("frames_total") or 0),
            "frames_done": int(h.get("frames_done") or 0),
            "attempts": int(h.get("attempts") or 0),
            "result": _loads(h["result"]) if h.get("result") else None,
            "error": _loads(h["error"]) if h.get("error") else None,
            "upload": h.get("upload") == "1",
            "owner": h.get("owner") or None,
            "worker": h.get("worker") or None,
            "pid": int(h["pid"]) if h.get("pid") else None,
            "segments": (
                {"total": int(h["segments"]), "done": int(h.get("segments_done") or 0)} if h.get("segments") else None
            ),
            "webhook": _webhook(h, spec.webhook_url, number) if spec.webhook_url else None,
        }
    )


def _webhook(h: dict[str, str], url: str, number) -> dict[str, Any]:
    status = h.get("webhook_status") or None
    return {
        "url": url,
        "attempts": int(h.get("webhook_attempts") or 0),
        # An HTTP status is kept as its digits; the other outcomes by name.
        "last_status": int(status) if status and status.isdigit() else status,
        "last_error": h.get("webhook_error") or None,
        "last_attempt_at": number("webhook_attempt_at"),
        "delivered_at": number("webhook_delivered_at"),
        "gave_up_at": number("webhook_gave_up_at"),
    }


@functools.lru_cache(maxsize=4096)
def _stored_spec(text: str) -> JobSpec:
    # A stored spec never changes and a followed job is read again and again: parse each
    # once per process (a JobSpec is frozen, so one may serve every read).
    return JobSpec.model_validate(json.loads(text))


def _loads(text: str) -> Any:
    # A record written before fps had a floor may hold Infinity: read it as null, so
    # that one old job cannot break every listing that includes it.
    return json.loads(text, parse_constant=lambda _: None)
