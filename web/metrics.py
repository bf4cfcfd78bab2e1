"""The Prometheus exposition of /metrics, made from a snapshot of what the job store keeps
in Redis (img2vid/store/metrics.py).

Each scrape reads Redis once and renders through a private registry: every gunicorn
process answers with the same numbers, and nothing is kept per process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from img2vid.store import WORKER_ALIVE_SECONDS, Snapshot

_HISTOGRAM_HELP = {
    "encode_duration_seconds": "Wall time of each succeeded job's encode, in seconds.",
    "encode_frames_per_second": "Frames encoded per second by each succeeded job.",
}


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot

    def collect(self):
        s = self.s
        yield CounterMetricFamily("img2vid_jobs_submitted_total", "Jobs accepted by the API.", value=s.submitted)
        yield CounterMetricFamily(
            "img2vid_jobs_started_total",
            "Job runs started by a worker; a job handed back or taken from a lost worker counts again when it "
            "restarts.",
            value=s.started,
        )
        finished = CounterMetricFamily(
            "img2vid_jobs_finished_total", "Jobs that reached a final state, by that state.", labels=["state"]
        )
        for state, n in s.finished.items():
            finished.add_metric([state], n)
        yield finished
        requeued = CounterMetricFamily(
            "img2vid_jobs_requeued_total",
            "Running jobs put back in the queue: handed_back by a stopping worker, worker_lost when its lease ran out.",
            labels=["reason"],
        )
        for reason, n in s.requeued.items():
            requeued.add_metric([reason], n)
        yield requeued
        for name, h in s.histograms.items():
            yield HistogramMetricFamily(f"img2vid_{name}", _HISTOGRAM_HELP[name], buckets=h.buckets, sum_value=h.sum)
        jobs = GaugeMetricFamily("img2vid_jobs", "Jobs held in the job store now, by state.", labels=["state"])
        for state, n in s.jobs.items():
            jobs.add_metric([state], n)
        yield jobs
        yield GaugeMetricFamily(
            "img2vid_queue_depth", "Jobs waiting for a worker (queued in the job store).", value=s.queue_depth
        )
        yield GaugeMetricFamily(
            "img2vid_broker_messages",
            "Task messages in the Celery queue's Redis lists, not yet taken by a worker (prefetched ones are not "
            "counted).",
            value=s.broker_messages,
        )
        yield GaugeMetricFamily(
            "img2vid_workers",
            f"Workers that sent a heartbeat in the last {WORKER_ALIVE_SECONDS} seconds.",
            value=s.workers,
        )


def exposition(snapshot: Snapshot, accept: str | None) -> tuple[bytes, str]:
    """(body, content type) in the format the scraper asked for in its Accept header:
    OpenMetrics or Prometheus text, chosen as prometheus_client's own exporters do."""
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(snapshot))
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
