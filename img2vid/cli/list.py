"""``img2vid list``: jobs, newest first, as a table or as the API's JSON."""

from __future__ import annotations

import argparse

from img2vid.cli.common import connect, print_json

COLUMNS = ("ID", "STATE", "CODEC", "FRAMES", "CREATED")


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        page = client.list(args.state, limit=args.limit, offset=args.offset)
    if args.json:
        print_json(page)
        return 0
    rows = [COLUMNS, *(_row(job) for job in page["jobs"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        cells[3] = row[3].rjust(widths[3])  # FRAMES, a number: right-aligned
        print("  ".join(cells).rstrip())
    shown = page["offset"] + len(page["jobs"])
    if shown < page["total"]:
        print(f"({len(page['jobs'])} of {page['total']} jobs; --offset {shown} for more)")
    return 0


def _row(job: dict) -> tuple[str, str, str, str, str]:
    result = job.get("result") or {}
    codec = result.get("codec") or (job.get("spec") or {}).get("codec") or "-"
    progress = job.get("progress") or {}
    if result.get("frames") is not None:
        frames = str(result["frames"])
    elif progress.get("frames_total"):
        frames = f"{progress.get('frames_done', 0)}/{progress['frames_total']}"
    else:
        frames = "-"
    created = (job.get("created_at") or "-").replace("T", " ")[:19]
    return job["id"], job["state"], codec, frames, created
