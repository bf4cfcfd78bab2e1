"""What the commands that talk to a server share: the client, printing a job, following
one with a progress bar, saving its video."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from img2vid.cli.progressbar import ProgressBar
from img2vid.client import Client, Event, JobFailedError, WaitTimeoutError
from img2vid.engine.codecs import CODECS


def connect(args: argparse.Namespace) -> Client:
    """The client for ``--server`` (else $IMG2VID_SERVER, else the default)."""
    return Client(args.server)


def print_json(doc: object) -> None:
    print(json.dumps(doc, indent=2), flush=True)


def follow(client: Client, job_id: str, timeout: float | None) -> dict:
    """Wait for the job (its events, else polling) with a progress bar on a terminal;
    its final JSON. Ctrl-C stops waiting only, as does the timeout (WaitTimeoutError)."""
    bar = ProgressBar()

    def show(event: Event) -> None:
        progress = event.job.get("progress") or {}
        bar(progress.get("frames_done", 0), progress.get("frames_total", 0))

    try:
        return client.wait(job_id, timeout=timeout, on_event=show)
    except WaitTimeoutError as exc:
        exc.message += f" (img2vid wait {job_id})"
        raise
    except KeyboardInterrupt:
        bar.close()
        print(f"img2vid: stopped waiting; job {job_id} goes on (img2vid status {job_id})", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        bar.close()


def succeeded(job: dict, as_json: bool = False) -> dict:
    """The job, if it succeeded; else JobFailedError with its error (exit 1), its JSON
    printed first with --json."""
    if job["state"] != "succeeded":
        if as_json:
            print_json(job)
        raise JobFailedError(job)
    return job


def with_suffix(out: Path, codec: str | None) -> Path:
    """An output with no extension gets the codec's, as with ``img2vid encode``."""
    if out.suffix or codec not in CODECS:
        return out
    return out.with_suffix(CODECS[codec].suffix)


def save_video(client: Client, job: dict, out: str | None) -> Path:
    """Download the succeeded job's video to ``out`` (a file, a folder, or None: here)."""
    target = Path(out) if out else None
    if target is not None and not target.is_dir():
        target = with_suffix(target, job["result"]["codec"])
    return client.download(job["id"], target)
