"""The pages for a person: submit, watch one job, list jobs. Plain HTML and a little
JavaScript served from web/static; the pages talk to the JSON API, and their own POST
routes do what the API's do (web/actions.py), behind the CSRF check."""

from __future__ import annotations

from flask import Blueprint, render_template

from img2vid.engine.codecs import CODECS
from img2vid.job import STATES
from web import actions
from web.auth import caller, may_see
from web.csrf import csrf_required, csrf_token
from web.disk import disk_usage
from web.humanize import human_duration
from web.policy import PAGE, routes_of_kind
from web.ratelimit import creates_jobs
from web.services import services

pages = routes_of_kind(Blueprint("pages", __name__), PAGE)

FITS = [
    ("contain", "Fit inside, with black bars where needed"),
    ("cover", "Fill the picture, cropping the edges"),
    ("stretch", "Stretch to fill (may distort)"),
]
DEFAULT_PAGE_CODEC = "h264"  # plays in every browser


@pages.app_context_processor
def _globals():
    return {"csrf_token": csrf_token}


@pages.get("/")
def submit_page():
    s = services().settings
    codecs = [(c.name, c.label, c.plays_in_browsers) for c in CODECS.values()]
    return render_template(
        "submit.html",
        codecs=codecs,
        default_codec=DEFAULT_PAGE_CODEC,
        fits=FITS,
        max_bytes=s.max_request_bytes,
        max_frames=s.max_frames,
    )


@pages.get("/jobs")
def jobs_page():
    svc = services()
    return render_template(
        "jobs.html",
        states=STATES,
        disk=disk_usage(svc.storage, svc.settings.disk_low_percent),
        retention=human_duration(svc.settings.retention_seconds),
        show_owner=caller().admin,
    )


@pages.get("/jobs/<job_id>")
def job_page(job_id: str):
    job = services().store.get(job_id)
    if job is None or not may_see(job.owner):
        return render_template("not_found.html", job_id=job_id), 404
    playable = {c.name for c in CODECS.values() if c.plays_in_browsers}
    return render_template(
        "job.html",
        job_id=job_id,
        title=job.spec.title,
        playable=sorted(playable),
        codec_labels={c.name: c.label for c in CODECS.values()},
    )


@pages.post("/jobs/new")
@csrf_required
@creates_jobs
def submit_job():
    return actions.create_job()


@pages.post("/jobs/<job_id>/cancel")
@csrf_required
def cancel(job_id: str):
    return actions.cancel_job(job_id)


@pages.post("/jobs/<job_id>/retry")
@csrf_required
@creates_jobs
def retry(job_id: str):
    return actions.retry_job(job_id)
