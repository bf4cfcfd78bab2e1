"""What a worker reads besides what every process does."""

from __future__ import annotations

from pydantic import Field

from img2vid.settings.webhooks import WebhookSettings

# A job past its time limit is failed from inside (it checks ten times a second); only
# if it has not stopped this much later is its worker process killed.
TIME_LIMIT_GRACE = 30


class WorkerSettings(WebhookSettings):
    """What a worker reads besides (the webhook settings: to deliver)."""

    # Seconds a job may run: then it fails with time_limit_exceeded and is not run
    # again. Its worker process is killed TIME_LIMIT_GRACE seconds later if still busy.
    task_time_limit: int = Field(3_600, ge=1)
    # A running job's lease: renewed every lease/5 s by its run; when it has ended, the
    # job's worker is taken for dead and another worker may take the job.
    lease_seconds: float = Field(10.0, ge=0.5)
    # How often each worker beats, and (one at a time) looks for jobs whose lease ended.
    heartbeat_seconds: float = Field(2.0, ge=0.1)
    # A job whose worker is lost this many times fails with worker_lost.
    max_worker_deaths: int = Field(3, ge=1)
    # A job queued this long while the broker's queue is empty lost its message (the web
    # process died between storing the job and sending it): it is sent again.
    resend_after_seconds: float = 120.0
    # One worker (whichever takes the Redis lock) sweeps expired jobs this often.
    sweep_seconds: float = Field(60.0, ge=0.01)
    # A job folder (uploads/ or outputs/) that no job record owns is removed once it has
    # not changed for this long: an upload being saved touches its folder every file.
    orphan_seconds: int = Field(3_600, ge=0)
    # A job of more frames than this is cut into segments of about this many, which any
    # free workers encode at once and one then joins; 0: never split. About 500: the
    # join and each segment's start cost well under a second, a segment at 1080p tens.
    split_frames: int = Field(500, ge=0)
    # Jobs one worker runs at once. One, so that `--scale worker=N` means N jobs at once,
    # each with every core's decode thread; `celery worker --concurrency` overrides it.
    worker_concurrency: int = Field(1, ge=1)
