"""``img2vid cancel``: cancel a queued or running job."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, print_json
from img2vid.cli.status import describe


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.cancel(args.job_id)
        if args.json:
            print_json(job)
        elif job["state"] == "running":
            print(f"{job['id']} stopping: cancelled while running, it stops within 2 s")
        else:
            print(describe(job, client))
    return 0
