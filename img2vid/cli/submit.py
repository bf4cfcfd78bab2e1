"""``img2vid submit``: send a job to a server, and with ``--wait`` follow it and download
the video."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from img2vid.cli.client import Client, ClientError, check_target, default_server
from img2vid.cli.progressbar import ProgressBar
from img2vid.engine.codecs import CODECS, DEFAULT_CODEC
from img2vid.engine.discovery import discover
from img2vid.errors import NoFramesError
from img2vid.job import FINISHED, JobSpec

POLL_SECONDS = 0.2
# While waiting, ride out a server restart or a Redis blip for this long.
OUTAGE_SECONDS = 30.0
_SPEC_OPTIONS = ("fps", "codec", "size", "fit", "name")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    client = Client(args.server or default_server())
    given = {k: getattr(args, k) for k in _SPEC_OPTIONS if getattr(args, k) is not None}
    out = Path(args.output) if args.output else None
    if out is not None and not out.is_dir():
        out = _with_suffix(out, given.get("codec") or DEFAULT_CODEC)
        check_target(out)  # before the upload, not after the encode

    if args.remote:
        source = {"dir": args.remote, **({"pattern": args.pattern} if args.pattern else {})}
        # Checked here with the server's own rules, so a typo costs no round trip; all
        # but its pixel limit, which only the server knows.
        spec = JobSpec.parse({"source": source, **given}, upload=False, max_pixels=None).model_dump(mode="json")
        body = {"source": source, **{k: spec[k] for k in given}}
        job = client.submit_remote(body, idempotency_key=args.idempotency_key)
    else:
        spec = JobSpec.parse(given, upload=True, max_pixels=None).model_dump(mode="json")
        try:
            frames = discover(args.source, args.pattern).frames
        except NoFramesError as exc:
            if not os.path.exists(args.source):
                exc.message += " here (for a folder on the server, pass --remote DIR)"
            raise
        fields = {k: str(spec[k]) for k in given}
        job = client.submit_upload(frames, fields, idempotency_key=args.idempotency_key)
    job_id = job["id"]
    print(job_id, flush=True)
    if not args.wait:
        return 0

    try:
        job = _follow(client, job)
    except KeyboardInterrupt:
        print(f"img2vid: stopped waiting; job {job_id} goes on (img2vid status {job_id})", file=sys.stderr)
        return 130
    if job["state"] != "succeeded":
        err = job.get("error") or {}
        raise ClientError(
            err.get("message") or f"job {job_id} was {job['state']}",
            code=err.get("code") or job["state"],
            path=err.get("path"),
        )

    r = job["result"]
    suffix = CODECS[r["codec"]].suffix if r["codec"] in CODECS else ".video"
    if out is not None and not out.is_dir():
        out = _with_suffix(out, r["codec"])
    video = client.download_video(job_id, out, default_name=f"{job_id}{suffix}")
    seconds = time.monotonic() - started
    print(
        f"{r['frames']} frames, {r['width']}x{r['height']}, {r['fps']:g} fps, {r['codec']}, "
        f"{seconds:.2f} s, {r['frames'] / max(seconds, 1e-9):.1f} frames/s -> {video}"
    )
    return 0


def _with_suffix(out: Path, codec: str) -> Path:
    """An output with no extension gets the codec's, as with ``img2vid encode``."""
    if out.suffix or codec not in CODECS:
        return out
    return out.with_suffix(CODECS[codec].suffix)


def _follow(client: Client, job: dict) -> dict:
    """Poll until the job has finished, showing progress on a terminal."""
    bar = ProgressBar()
    trouble_since: float | None = None
    try:
        while job["state"] not in FINISHED:
            time.sleep(POLL_SECONDS)
            try:
                job = client.job(job["id"])
            except ClientError as exc:
                if exc.code not in ("server_unreachable", "connection_failed") and exc.status not in (502, 503, 504):
                    raise
                trouble_since = trouble_since or time.monotonic()
                if time.monotonic() - trouble_since > OUTAGE_SECONDS:
                    raise
                continue
            trouble_since = None
            progress = job["progress"]
            bar(progress["frames_done"], progress["frames_total"])
    finally:
        bar.close()
    return job
