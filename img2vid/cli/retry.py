"""``img2vid retry``: a new job with the spec (and frames) of another; prints its id."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, print_json


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.retry(args.job_id)
    if args.json:
        print_json(job)
    else:
        print(job["id"])
    return 0
