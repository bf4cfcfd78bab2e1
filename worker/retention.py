"""Retention: finished jobs go, with their files and Redis keys, once older than the
retention; job folders that no record owns go once untouched for a while.

What is removed, and nothing else:
- a succeeded, failed or cancelled job whose finish is older than the retention (on
  Redis's clock, as its finish was stamped): its record, run log and index entries, and
  its uploads/<job> and outputs/<job> folders;
- an uploads/<job> or outputs/<job> folder with no job record, unchanged for the orphan
  grace: frames of an upload whose job was never stored (the web process died, or Redis
  was away), or a folder left by a crash between removing a job's files and its record.
  An upload being saved is safe: every file written into its folder touches the folder,
  and its record is stored within a moment of the last one.
Queued and running jobs are never touched whatever their age; the input root and every
key outside the job store's prefix neither.

``sweep_if_due`` makes it one sweep per period across all workers: a Redis key that
lives for the period is the lock and the timer at once (see its docstring).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from img2vid import logs
from img2vid.storage import Storage
from img2vid.store import JobStore

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class SweepReport:
    jobs: dict[str, int] = field(default_factory=dict)  # removed, by the state they ended in
    orphans: dict[str, int] = field(default_factory=dict)  # folders removed, by area
    complete: bool = True  # False when the time budget ran out first

    @property
    def removed(self) -> int:
        return sum(self.jobs.values())


def sweep(
    store: JobStore,
    storage: Storage,
    retention_seconds: float,
    orphan_seconds: float,
    budget_seconds: float | None = None,
) -> SweepReport:
    """Remove what has expired (module docstring). Stops early, leaving the rest for the
    next sweep, once ``budget_seconds`` have passed."""
    started = time.monotonic()
    deadline = started + budget_seconds if budget_seconds else float("inf")
    report = SweepReport()
    while time.monotonic() < deadline:
        expired = store.expired(retention_seconds, BATCH)  # never a live job, whatever an index says
        if not expired:
            break
        for job_id, state in expired:
            # Files first: a crash in between leaves a record without files (the next
            # sweep removes it), never files without a record until the orphan grace.
            storage.remove_job_files(job_id)
            store.delete(job_id)
            report.jobs[state] = report.jobs.get(state, 0) + 1
            logs.event(
                log,
                "job_swept",
                f"job {job_id} ({state}) expired and was removed with its files",
                job_id=job_id,
                state=state,
            )
    else:
        report.complete = False

    # A folder's newest change is on the storage's clock (a file system's mtime, an
    # object's LastModified); compare with this machine's. A clock off by less than the
    # grace (an hour by default) changes nothing.
    cutoff = time.time() - orphan_seconds
    for folder in storage.job_folders():
        if time.monotonic() >= deadline:
            report.complete = False
            break
        if folder.changed < cutoff and not store.exists(folder.job_id):
            storage.remove_folder(folder)
            report.orphans[folder.area] = report.orphans.get(folder.area, 0) + 1
            logs.event(
                log,
                "orphan_swept",
                f"{folder.area}/{folder.job_id} had no job record and was removed",
                job_id=folder.job_id,
                folder=folder.area,
            )
    logs.event(
        log,
        "sweep",
        f"sweep removed {report.removed} expired job(s) and {sum(report.orphans.values())} orphan folder(s)",
        jobs=report.jobs,
        orphans=report.orphans,
        complete=report.complete,
        seconds=round(time.monotonic() - started, 3),
    )
    return report


def sweep_if_due(store: JobStore, worker: str, period: float, run) -> bool:
    """Call ``run()`` if no worker has swept in the last ``period`` seconds; True if it did.

    The lock ``sweep`` (``store.try_lock``) lives for the period and is never released:
    however many workers ask, every beat, exactly one gets it per period, and the next
    only after it expires, on Redis's clock. A worker that dies mid-sweep leaves it to
    expire: the next sweep, a period later, does what was left (every step is
    idempotent). ``run`` must finish within the period (sweep's budget), or a second
    sweep could start beside it.
    """
    if not store.try_lock("sweep", worker, period):
        return False
    run()
    return True
