"""One long job on many workers: its run cuts it into segments of contiguous frames,
any free worker encodes one (a message for a split job means "take its next queued
unit"), and the run that finishes the last segment joins them by copying packets.

The fan-out is the store's own (img2vid/store/segment_scripts.py), not a Celery chord:
each segment is held under a lease of its own exactly as a whole job is, so a lost
worker costs its one segment, taken back by the reaper as today, and never two runs
of it at once; a chord would add a result backend and its own retry rules beside
ours. A split job keeps only a few messages out at a time (one per live worker, each
finished segment sending the next), so a job submitted behind it waits for one
segment, not for all of them.
"""

from __future__ import annotations

import contextlib
import logging
import os

from img2vid import logs
from img2vid.engine import encode
from img2vid.engine.codecs import CODECS
from img2vid.engine.join import join
from img2vid.engine.sources import FrameList
from img2vid.engine.split import can_split, plan, segment, video_size
from img2vid.errors import BadSourceError, CancelledError, Img2VidError
from img2vid.job import Job, Result
from img2vid.store import Unit
from worker import outcomes
from worker.lease import Run
from worker.runtime import Runtime

log = logging.getLogger("worker.tasks")

# A join that fails is tried this many times in all (the store may blink), then fails the job.
JOIN_ATTEMPTS = 3


def spans_of(rt: Runtime, job: Job, frames: int) -> list[tuple[int, int]]:
    """The segments the job is cut into: one (itself) unless it is long and its codec joins."""
    if not can_split(job.spec.codec):
        return [(0, frames)]
    return plan(frames, rt.settings.split_frames)


def split_and_run(rt: Runtime, job: Job, run: Run, found: FrameList, spans: list[tuple[int, int]]) -> str:
    """Cut the job this run holds whole into ``spans``, send a message for each other
    live worker, and go on as segment 0."""
    counts = [stop - start for start, stop in spans]
    if not run.move_to("0", lambda: rt.store.split(job.id, run.token, counts, run.lease, run.worker, os.getpid())):
        return "lease lost"
    width = min(len(spans), max(1, rt.store.live_workers()) * rt.settings.worker_concurrency)
    logs.event(
        log,
        "job_split",
        f"job {job.id}: {len(found.frames)} frames cut into {len(spans)} segments for up to {width} workers",
        segments=len(spans),
        frames=len(found.frames),
        worker=run.worker,
    )
    outcomes.best_effort(rt.tasks.send_new, [job.id] * (width - 1))
    return _segment(rt, rt.store.get(job.id) or job, run, Unit("segment", job, 0, *spans[0]), found)


def run_unit(rt: Runtime, unit: Unit, run: Run) -> str:
    if unit.kind == "join":
        logs.event(log, "join_started", f"job {unit.job.id}: join started on {run.worker}", worker=run.worker)
        return _join(rt, unit.job, run)
    logs.event(
        log,
        "segment_started",
        f"job {unit.job.id}: segment {unit.index + 1} started on {run.worker}",
        segment=unit.index + 1,
        worker=run.worker,
    )
    return _segment(rt, unit.job, run, unit, None)


def _segment(rt: Runtime, job: Job, run: Run, unit: Unit, found: FrameList | None) -> str:
    spec, codec = job.spec, CODECS[job.spec.codec]
    try:
        if found is None:
            found = rt.storage.frames_of(job, stop=run.should_stop)
        if len(found.frames) != job.frames_total:
            raise BadSourceError(
                f"the frames changed while the job ran: {len(found.frames)} now, {job.frames_total} when it was split"
            )
        opts = spec.encode_options(max_pixels=rt.settings.max_pixels, max_frame_bytes=rt.settings.max_frame_bytes)
        # Every segment at the whole job's size, so that they join.
        opts = opts.model_copy(update={"size": video_size(found, opts)})
        with rt.storage.segment_slot(job, unit.index, codec.suffix) as slot:
            encode(
                segment(found, unit.start, unit.stop),
                slot.video,
                opts,
                poster=slot.poster,
                make_poster=unit.index == 0,  # the job's poster: its first frame
                overwrite=True,
                progress=lambda done, _: outcomes.best_effort(rt.store.progress, job.id, done, 0, run.token, run.unit),
                should_cancel=run.should_stop,
                threads=rt.settings.decode_threads,
            )
            slot.publish(stop=run.should_stop)
    except BaseException as exc:
        return outcomes.ended_by(rt, job, run, exc)
    done = outcomes.persist(
        run,
        lambda: run.move_to(
            "", lambda: rt.store.segment_done(job.id, run.token, unit.index, run.lease), when=lambda o: o == "join"
        ),
    )
    logs.event(
        log,
        "segment_done",
        f"job {job.id}: segment {unit.index + 1} done on {run.worker} ({done or 'no longer this run'})",
        segment=unit.index + 1,
        next=done,
        worker=run.worker,
    )
    if done == "more":
        outcomes.best_effort(rt.tasks.send_new, [job.id])
    elif done == "cancelled":
        outcomes.remove_outputs(rt, job, run)
    elif done == "join":
        return _join(rt, rt.store.get(job.id) or job, run)
    return "segment done" if done else "lease lost"


def _join(rt: Runtime, job: Job, run: Run) -> str:
    spec, codec = job.spec, CODECS[job.spec.codec]
    assert job.segments is not None
    started = rt.store.server_time()
    for attempt in range(1, JOIN_ATTEMPTS + 1):
        try:
            with (
                rt.storage.segment_parts(job, job.segments.total, codec.suffix) as parts,
                rt.storage.output_slot(job, codec.suffix) as slot,
            ):
                joined = join(
                    parts.videos,
                    slot.video,
                    spec.codec,
                    spec.fps,
                    poster_from=parts.poster,
                    poster=slot.poster,
                    overwrite=True,
                    should_cancel=run.should_stop,
                )
                slot.publish(stop=run.should_stop)
            break
        except Img2VidError as exc:
            if isinstance(exc, CancelledError) or attempt == JOIN_ATTEMPTS:
                return outcomes.ended_by(rt, job, run, exc)
            logs.event(
                log,
                "join_retried",
                f"job {job.id}: the join failed ({exc.message}); trying again",
                level=logging.WARNING,
                attempt=attempt,
            )
        except BaseException as exc:
            return outcomes.ended_by(rt, job, run, exc)
    now = rt.store.server_time()
    seconds = max(1e-3, now - (job.started_at or started))
    result = Result(
        video=joined.video.name,
        frames=joined.frames,
        width=joined.width,
        height=joined.height,
        fps=spec.fps,
        codec=spec.codec,
        bytes=joined.bytes,
        duration_seconds=round(joined.frames / spec.fps, 3),
        bad_frames=job.frames_total - joined.frames,
    )
    recorded = outcomes.succeeded(rt, job, run, result, seconds, segments=job.segments.total)
    with contextlib.suppress(Img2VidError):  # left for retention when the store is away
        rt.storage.remove_segments(job.id)
    if recorded:
        logs.event(
            log,
            "job_joined",
            f"job {job.id}: {job.segments.total} segments joined in {now - started:.2f} s",
            seconds=round(now - started, 3),
            segments=job.segments.total,
            worker=run.worker,
        )
    return "succeeded"
