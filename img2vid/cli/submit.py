"""``img2vid submit``: send a job to a server, and with ``--wait`` follow it and download
the video."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from img2vid.cli.common import connect, follow, print_json, save_video, succeeded, with_suffix
from img2vid.client import check_target
from img2vid.engine.codecs import DEFAULT_CODEC
from img2vid.engine.discovery import discover
from img2vid.errors import NoFramesError
from img2vid.job import JobSpec

_SPEC_OPTIONS = ("fps", "codec", "size", "fit", "name")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    given = {k: getattr(args, k) for k in _SPEC_OPTIONS if getattr(args, k) is not None}
    out = Path(args.output) if args.output else None
    if out is not None and not out.is_dir():
        check_target(with_suffix(out, given.get("codec") or DEFAULT_CODEC))  # before the upload, not after the encode

    with connect(args) as client:
        if args.remote:
            source = {"dir": args.remote, **({"pattern": args.pattern} if args.pattern else {})}
            # Checked here with the server's own rules, so a typo costs no round trip; all
            # but its pixel limit, which only the server knows.
            spec = JobSpec.parse({"source": source, **given}, upload=False, max_pixels=None).model_dump(mode="json")
            job = client.submit(
                remote=args.remote,
                pattern=args.pattern,
                idempotency_key=args.idempotency_key,
                **{k: spec[k] for k in given},
            )
        else:
            spec = JobSpec.parse(given, upload=True, max_pixels=None).model_dump(mode="json")
            try:
                frames = discover(args.source, args.pattern).frames
            except NoFramesError as exc:
                if not os.path.exists(args.source):
                    exc.message += " here (for a folder on the server, pass --remote DIR)"
                raise
            job = client.submit(frames, idempotency_key=args.idempotency_key, **{k: str(spec[k]) for k in given})
        if not args.wait:
            if args.json:
                print_json(job)
            else:
                print(job["id"], flush=True)
            return 0
        if not args.json:
            print(job["id"], flush=True)

        job = succeeded(follow(client, job["id"], args.timeout), args.json)
        video = save_video(client, job, args.output)
    if args.json:
        print_json({**job, "file": str(video)})
        return 0
    r = job["result"]
    seconds = time.monotonic() - started
    print(
        f"{r['frames']} frames, {r['width']}x{r['height']}, {r['fps']:g} fps, {r['codec']}, "
        f"{seconds:.2f} s, {r['frames'] / max(seconds, 1e-9):.1f} frames/s -> {video}"
    )
    return 0
