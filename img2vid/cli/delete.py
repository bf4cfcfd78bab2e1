"""``img2vid delete``: remove a finished job and its files."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.delete(args.job_id)
    print(f"{args.job_id} deleted")
    return 0
