"""A job record as the API shows it (DESIGN.md's job JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from img2vid.jobstore import JobRecord


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_json(rec: JobRecord) -> dict[str, Any]:
    total, done = rec.frames_total, rec.frames_done
    if rec.state == "succeeded":
        done = total
    percent = round(100.0 * done / total, 1) if total else 0.0
    result = None
    if rec.state == "succeeded" and rec.result:
        r = rec.result
        result = {
            "video_url": f"/api/v1/jobs/{rec.id}/video",
            "poster_url": f"/api/v1/jobs/{rec.id}/poster.jpg",
            **{k: r[k] for k in ("frames", "width", "height", "fps", "codec", "bytes", "duration_seconds")},
        }
    return {
        "id": rec.id,
        "state": rec.state,
        "progress": {"frames_done": done, "frames_total": total, "percent": percent},
        "queue_position": rec.queue_position,
        "eta_seconds": rec.eta_seconds,
        "created_at": iso(rec.created_at),
        "started_at": iso(rec.started_at),
        "finished_at": iso(rec.finished_at),
        "attempts": rec.attempts,
        "owner": rec.owner,
        "spec": rec.spec,
        "result": result,
        "error": rec.error,
    }
