"""What /metrics shows, kept in Redis where every web process and every worker sees the
same numbers: no per-process state, so no prometheus multiprocess mode.

The counters live in one hash under the store's prefix, ``<prefix>metrics``, and are
bumped by the store's Lua scripts in the same step as the state change they count
(scripts.py), so a count can never disagree with the jobs' states. Fields:

- ``submitted``; ``started`` (every run, so a job taken back and started again counts
  again); ``finished:<state>`` for succeeded, failed, cancelled; ``requeued:<reason>``
  for handed_back (its worker was stopping) and worker_lost (its lease ran out);
- for each histogram NAME: ``NAME_bucket:<le>`` (observations in that bucket alone, not
  cumulative), ``NAME_count`` and ``NAME_sum``; one observation per succeeded job.

Reading takes one pipelined round trip. The hash is not per job: retention leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass

from img2vid.job import FINISHED, STATES
from img2vid.store.broker import broker_lists
from img2vid.store.workers import WorkersMixin

# Encode wall time, from a handful of thumbnails (tenths of a second) to an hour of 1080p.
SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Frames encoded per second: VP9 at 1080p runs at ~4, H.264 ~25-40, mp4v ~90, small frames hundreds.
FPS_BUCKETS = (1, 2.5, 5, 10, 25, 50, 75, 100, 150, 200, 300, 500)
HISTOGRAMS = {"encode_duration_seconds": SECONDS_BUCKETS, "encode_frames_per_second": FPS_BUCKETS}
REQUEUE_REASONS = ("handed_back", "worker_lost")
INF = "+Inf"


def le(bound: float) -> str:
    """A bucket's upper bound as the exposition writes it ("0.1", "5.0", "+Inf")."""
    return repr(float(bound))


def bucket_of(value: float, bounds: tuple[float, ...]) -> str:
    return next((le(b) for b in bounds if value <= b), INF)


def observation_args(seconds: float, frames_per_second: float) -> list[str]:
    """The FINISH script's extra arguments for a succeeded run: each histogram's value
    and the bucket it falls in (bucketing here keeps the bounds in one place)."""
    return [
        repr(seconds),
        bucket_of(seconds, SECONDS_BUCKETS),
        repr(frames_per_second),
        bucket_of(frames_per_second, FPS_BUCKETS),
    ]


@dataclass
class Histogram:
    buckets: list[tuple[str, float]]  # cumulative, ending with +Inf
    sum: float
    count: int


@dataclass
class Snapshot:
    submitted: int
    started: int
    finished: dict[str, int]  # by state
    requeued: dict[str, int]  # by reason
    histograms: dict[str, Histogram]
    jobs: dict[str, int]  # held in the store now, by state
    queue_depth: int
    broker_messages: int
    workers: int


class MetricsMixin(WorkersMixin):
    def metrics_snapshot(self, queue: str) -> Snapshot:
        """Everything /metrics shows, in one round trip; ``queue`` is the Celery queue
        whose waiting messages are counted. Raises UnavailableError when Redis cannot
        be reached."""
        k = self._keys
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(k.metrics)
            pipe.zcard(k.queue)
            pipe.zcount(k.workers, self.alive_since(), "+inf")
            for s in STATES:
                pipe.zcard(k.state(s))
            for name in broker_lists(queue):
                pipe.llen(name)
            counters, queue_depth, workers, *rest = pipe.execute()
        states, lists = rest[: len(STATES)], rest[len(STATES) :]

        def n(field: str) -> int:
            return int(counters.get(field) or 0)

        return Snapshot(
            submitted=n("submitted"),
            started=n("started"),
            finished={s: n(f"finished:{s}") for s in STATES if s in FINISHED},
            requeued={r: n(f"requeued:{r}") for r in REQUEUE_REASONS},
            histograms={name: _histogram(counters, name, bounds) for name, bounds in HISTOGRAMS.items()},
            jobs=dict(zip(STATES, states, strict=True)),
            queue_depth=queue_depth,
            broker_messages=sum(lists),
            workers=workers,
        )


def _histogram(counters: dict[str, str], name: str, bounds: tuple[float, ...]) -> Histogram:
    count = int(counters.get(f"{name}_count") or 0)
    running, buckets = 0, []
    for b in bounds:
        running += int(counters.get(f"{name}_bucket:{le(b)}") or 0)
        buckets.append((le(b), float(running)))
    # +Inf is the count itself, so the buckets stay consistent even if the bounds change.
    buckets.append((INF, float(count)))
    return Histogram(buckets, float(counters.get(f"{name}_sum") or 0.0), count)
