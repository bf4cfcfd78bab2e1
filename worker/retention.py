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
import os
import shutil
import time
from dataclasses import dataclass, field

from img2vid import logs
from img2vid.jobstore import JobStore
from img2vid.volume import Volume

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class SweepReport:
    jobs: dict[str, int] = field(default_factory=dict)  # removed, by the state they ended in
    orphans: dict[str, int] = field(default_factory=dict)  # folders removed, by parent
    complete: bool = True  # False when the time budget ran out first

    @property
    def removed(self) -> int:
        return sum(self.jobs.values())


def sweep(store: JobStore, volume: Volume, retention_seconds: float, orphan_seconds: float,
          budget_seconds: float | None = None) -> SweepReport:
    """Remove what has expired (module docstring). Stops early, leaving the rest for the
    next sweep, once ``budget_seconds`` have passed."""
    started = time.monotonic()
    deadline = started + budget_seconds if budget_seconds else float("inf")
    report = SweepReport()
    while time.monotonic() < deadline:
        expired = store.expired(retention_seconds, BATCH)
        if not expired:
            break
        for job_id in expired:
            state = store.r.hget(store.k_job(job_id), "state")
            if state in ("queued", "running"):  # never a live job, whatever an index says
                store.r.zrem(store.k_finished, job_id)
                continue
            state = state or "unknown"
            # Files first: a crash in between leaves a record without files (the next
            # sweep removes it), never files without a record until the orphan grace.
            volume.remove_job_files(job_id)
            store.delete(job_id)
            report.jobs[state] = report.jobs.get(state, 0) + 1
            logs.event(log, "job_swept", f"job {job_id} ({state}) expired and was removed with its files",
                       job_id=job_id, state=state)
    else:
        report.complete = False

    # A folder's mtime is the file system's clock; compare with this machine's. A clock
    # off by less than the grace (an hour by default) changes nothing.
    cutoff = time.time() - orphan_seconds
    for parent, kind in ((volume.uploads, "uploads"), (volume.outputs, "outputs")):
        for entry in _folders(parent):
            if time.monotonic() >= deadline:
                report.complete = False
                break
            if _mtime(entry) < cutoff and not store.exists(entry.name):
                shutil.rmtree(entry.path, ignore_errors=True)
                report.orphans[kind] = report.orphans.get(kind, 0) + 1
                logs.event(log, "orphan_swept", f"{kind}/{entry.name} had no job record and was removed",
                           job_id=entry.name, folder=kind)
    logs.event(log, "sweep", f"sweep removed {report.removed} expired job(s) and "
               f"{sum(report.orphans.values())} orphan folder(s)",
               jobs=report.jobs, orphans=report.orphans, complete=report.complete,
               seconds=round(time.monotonic() - started, 3))
    return report


def sweep_if_due(store: JobStore, worker: str, period: float, run) -> bool:
    """Call ``run()`` if no worker has swept in the last ``period`` seconds; True if it did.

    The key ``<prefix>sweep-lock`` is set only if absent (SET NX) and expires after the
    period by itself; it is never deleted. So however many workers ask, every beat,
    exactly one gets it per period, and the next can only after it expires. The expiry
    runs on Redis's clock, so workers whose clocks disagree still agree. A worker that
    dies mid-sweep leaves the key to expire: the next sweep, a period later, does what
    was left (every step is idempotent). ``run`` must finish within the period (sweep's
    budget), or a second sweep could start beside it.
    """
    if not store.r.set(f"{store.p}sweep-lock", worker, nx=True, px=max(1, int(period * 1000))):
        return False
    run()
    return True


def _folders(parent) -> list[os.DirEntry]:
    try:
        with os.scandir(parent) as it:
            # Only job folders: a stray file or a link is not ours to remove.
            return [e for e in it if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _mtime(entry: os.DirEntry) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return float("inf")  # removed meanwhile: nothing to do
