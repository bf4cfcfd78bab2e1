"""``img2vid download``: save a finished job's video."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, print_json, save_video, succeeded


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.get(args.job_id)
        if job["state"] in ("failed", "cancelled"):
            succeeded(job, args.json)  # exit 1, with the job's own error
        # A job not finished yet: the server's 409 (job_state) says so.
        video = save_video(client, job, args.output) if job["state"] == "succeeded" else client.download(job["id"])
    if args.json:
        print_json({**job, "file": str(video)})
        return 0
    r = job["result"]
    size = f"{r['width']}x{r['height']}"
    print(f"{r['frames']} frames, {size}, {r['fps']:g} fps, {r['codec']}, {r['bytes']:,} bytes -> {video}")
    return 0
