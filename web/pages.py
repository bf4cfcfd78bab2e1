"""The pages for a person: submit, watch one job, list jobs. Plain HTML and a little
JavaScript served from web/static; the pages talk to the JSON API."""

from __future__ import annotations

from flask import Blueprint, render_template

from img2vid.codecs import CODECS
from img2vid.models import STATES

from .api.jobs import cancel_job, create_job_from_request, retry_job
from .auth import caller, may_see
from .csrf import csrf_token, require_csrf
from .disk import disk_usage
from .humanize import human_duration
from .services import services

pages = Blueprint("pages", __name__, template_folder="templates", static_folder="static", static_url_path="/static")

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
        "submit.html", codecs=codecs, default_codec=DEFAULT_PAGE_CODEC, fits=FITS,
        max_bytes=s.max_request_bytes, max_frames=s.max_frames,
    )


@pages.get("/jobs")
def jobs_page():
    svc = services()
    return render_template("jobs.html", states=STATES,
                           disk=disk_usage(svc.volume.root, svc.settings.disk_low_percent),
                           retention=human_duration(svc.settings.retention_seconds),
                           show_owner=caller().admin)


@pages.get("/jobs/<job_id>")
def job_page(job_id: str):
    rec = services().store.get(job_id)
    if rec is None or not may_see(rec.owner):
        return render_template("not_found.html", job_id=job_id), 404
    playable = {c.name for c in CODECS.values() if c.plays_in_browsers}
    return render_template("job.html", job_id=job_id, title=_job_title(rec.spec), playable=sorted(playable),
                           codec_labels={c.name: c.label for c in CODECS.values()})


def _job_title(spec: dict) -> str | None:
    """What a person calls the job: the name they gave it, else the server folder it
    reads (as the jobs list shows it); None for an unnamed upload, titled by its id."""
    return spec.get("name") or (spec.get("source") or {}).get("dir") or None


# The page's own POST routes: the same work as the API, behind the CSRF check.
@pages.post("/jobs/new")
def submit_job():
    require_csrf()
    return create_job_from_request()


@pages.post("/jobs/<job_id>/cancel")
def cancel(job_id: str):
    require_csrf()
    return cancel_job(job_id)


@pages.post("/jobs/<job_id>/retry")
def retry(job_id: str):
    require_csrf()
    return retry_job(job_id)
