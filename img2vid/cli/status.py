"""``img2vid status``: one job, as one line or as its JSON."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, print_json
from img2vid.client import Client


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.get(args.job_id)
        if args.json:
            print_json(job)
        else:
            print(describe(job, client))
    return 0


def describe(job: dict, client: Client) -> str:
    """``<id> running: 5/12 frames (41.7%), about 3 s left`` and the like."""
    p = job.get("progress") or {}
    done, total, percent = p.get("frames_done", 0), p.get("frames_total", 0), p.get("percent", 0.0)
    parts = [f"{done}/{total} frames ({percent:g}%)"]
    state = job["state"]
    if state == "queued" and job.get("queue_position") is not None:
        ahead = job["queue_position"]
        parts.append("next in the queue" if ahead == 0 else f"{ahead} ahead in the queue")
    if state in ("queued", "running") and job.get("eta_seconds") is not None:
        parts.append(f"about {_duration(job['eta_seconds'])} left")
    if job.get("error"):
        err = job["error"]
        parts.append(f"{err.get('message', '')} [{err.get('code', 'error')}]")
    result = job.get("result")
    if state == "succeeded" and result:
        parts.append(f"{result['width']}x{result['height']} {result['codec']}, {result['bytes']:,} bytes")
        parts.append(f"video {client.absolute(result['video_url'])}")
    return f"{job['id']} {state}: " + ", ".join(parts)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
