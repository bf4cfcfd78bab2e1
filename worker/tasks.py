"""The Celery task: a thin shell that validates, calls the engine, records the outcome."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import redis

from img2vid.codecs import CODECS
from img2vid.errors import CancelledError, Img2VidError
from img2vid.models import JobSpec
from img2vid.options import EncodeOptions
from img2vid.volume import NAMES_FILE

from .celery_app import app
from .engine import encode
from .runtime import runtime

log = logging.getLogger(__name__)


@app.task(name="img2vid.encode", bind=True)
def encode_job(self, job_id: str) -> str:
    rt = runtime()
    job = rt.store.start(job_id, worker=self.request.hostname or "worker")
    if job is None:  # cancelled while queued, finished, or deleted: nothing to do
        return "skipped"

    spec = JobSpec.model_validate(job.spec)
    out_dir = rt.volume.output_dir(job_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{spec.name or job_id}{CODECS[spec.codec].suffix}"
    try:
        options = EncodeOptions.build(
            fps=spec.fps, codec=spec.codec, size=spec.size, fit=spec.fit, max_pixels=rt.settings.max_pixels,
        )
        result = encode(
            job.source, target, options,
            pattern=spec.source.pattern if spec.source else None,
            poster=out_dir / "poster.jpg",
            overwrite=True,
            progress=lambda done, total: _best_effort(rt.store.progress, job_id, done, total),
            should_cancel=lambda: bool(_best_effort(rt.store.cancel_requested, job_id)),
            threads=rt.settings.decode_threads,
        )
    except CancelledError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        _finish(job_id, "cancelled", error=exc.to_dict())
        return "cancelled"
    except Img2VidError as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        _finish(job_id, "failed", error=_client_error(exc, Path(job.source)))
        return "failed"
    except Exception as exc:  # a bug, not bad input: log it whole, tell the client briefly
        log.exception("job %s failed", job_id)
        shutil.rmtree(out_dir, ignore_errors=True)
        _finish(job_id, "failed", error={"code": "internal_error", "message": f"the encoder failed unexpectedly: {exc}"})
        return "failed"

    _finish(job_id, "succeeded", result={
        "video": result.video.name, "frames": result.frames, "width": result.width, "height": result.height,
        "fps": result.fps, "codec": result.codec, "bytes": result.bytes,
        "duration_seconds": round(result.duration_seconds, 3),
        "bad_frames": len(result.bad_frames),
    })
    _best_effort(rt.store.record_rate, result.frames_per_second)
    return "succeeded"


def _client_error(exc: Img2VidError, source: Path) -> dict:
    """The error as a client should read it: uploaded frames named as the client named
    them, and no server paths."""
    body = exc.to_dict()
    names_file = source / NAMES_FILE
    if exc.path:
        saved = Path(exc.path).name
        original = saved
        if names_file.exists():
            original = json.loads(names_file.read_text()).get(saved, saved)
            body["message"] = body["message"].replace(saved, original)
        body["path"] = original
    body["message"] = body["message"].replace(str(source), "the job's frames")
    return body


def _finish(job_id: str, state: str, **outcome) -> None:
    """Record the outcome; Redis may be restarting, so keep trying for a while."""
    store = runtime().store
    deadline = time.monotonic() + 60
    while True:
        try:
            store.finish(job_id, state, **outcome)
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _best_effort(fn, *args):
    """Progress and cancel checks must not fail a job while Redis blinks."""
    try:
        return fn(*args)
    except redis.RedisError:
        return None
