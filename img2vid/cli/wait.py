"""``img2vid wait``: follow a job until it has finished (its events, else polling)."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, follow, print_json, succeeded
from img2vid.cli.status import describe


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = succeeded(follow(client, args.job_id, args.timeout), args.json)
        if args.json:
            print_json(job)
        else:
            print(describe(job, client))
    return 0
