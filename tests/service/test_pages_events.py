"""The job and jobs pages follow jobs through the server's event streams (SSE) in a real
browser, and poll the JSON API instead when a stream fails.

To prove the streams alone update a page, the tests make every poll fail: Playwright
aborts the page's GETs of /api/v1/jobs/<id> (or of the list), and counts them.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Page, Request, expect

from browsertools import shot
from servicetools import heavy_folder, input_folder, pictures_in


def submit(service, rel: str, **spec) -> dict:
    status, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, **spec})
    assert status == 202, job
    return job


def job_url(job_id: str) -> re.Pattern:
    """GET /api/v1/jobs/<id> (what the job page polls), not its /events, /video, /poster."""
    return re.compile(rf"/api/v1/jobs/{job_id}(\?[^/]*)?$")


LIST_URL = re.compile(r"/api/v1/jobs(\?[^/]*)?$")  # what the jobs page polls
ANY_JOB_URL = re.compile(r"/api/v1/jobs/[0-9a-f]+(\?[^/]*)?$")
JOB_EVENTS_URL = re.compile(r"/api/v1/jobs/[0-9a-f]+/events$")
EVENTS_URL = re.compile(r"/api/v1/events$")


def requests_to(page: Page, pattern: re.Pattern) -> list[str]:
    """The URLs of the page's requests matching ``pattern`` from now on, as they are made."""
    seen: list[str] = []

    def note(request: Request) -> None:
        if pattern.search(request.url):
            seen.append(request.url)

    page.on("request", note)
    return seen


def block(page: Page, pattern: re.Pattern) -> None:
    """Every request matching ``pattern`` fails as a dropped connection would."""
    page.route(pattern, lambda route: route.abort())


def refuse_streams(page: Page, pattern: re.Pattern, how: str) -> None:
    """The event streams fail: a dropped connection, the server's 503 when it has too many
    open, or a browser without EventSource."""
    if how == "missing":
        page.add_init_script("delete window.EventSource")
        return

    def answer(route) -> None:
        if how == "abort":
            route.abort()
        else:
            body = {"error": {"code": "too_many_streams", "message": "this web process has 200 event streams open"}}
            route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    page.route(pattern, answer)


def test_a_job_page_follows_its_job_through_events_alone(page, service):
    # given a job long enough to be seen running, and a page on which every poll of it fails
    job = submit(service, heavy_folder(service, 24), codec="h264")
    polls = requests_to(page, job_url(job["id"]))
    streams = requests_to(page, JOB_EVENTS_URL)
    block(page, job_url(job["id"]))
    # when its page is opened, then it shows the job running, then done, with its video
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#state")).to_have_text("running")
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"^[1-9]\d* of 24 frames"))
    shot(page, "job-events-running")
    expect(page.locator("#state")).to_have_text("succeeded")
    expect(page.locator("#progress-text")).to_have_text("24 of 24 frames (100 %)")
    page.wait_for_function(
        "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 2 && v.duration > 0; }"
    )
    expect(page.locator("#download")).to_be_visible()
    expect(page.locator("#action-error")).to_be_hidden()  # no failed poll said anything
    shot(page, "job-events-succeeded")
    # and all of it came through the job's event stream: not one poll was made
    expect(page.locator("#job")).to_have_attribute("data-updates", "events")
    assert polls == []
    assert streams == [f"{service.url}/api/v1/jobs/{job['id']}/events"]  # closed at the end, never reopened


@pytest.mark.parametrize("how", ["abort", "503", "missing"])
def test_a_job_page_polls_when_its_event_stream_fails(page, service, how):
    # given a job, and a server whose event streams fail
    rel = f"garden-{uuid.uuid4().hex[:6]}"
    pictures_in(service.inputs / rel, 6)
    job = submit(service, rel, codec="mjpg")
    polls = requests_to(page, job_url(job["id"]))
    streams = requests_to(page, JOB_EVENTS_URL)
    refuse_streams(page, JOB_EVENTS_URL, how)
    # when its page is opened, then it falls back to polling and shows the outcome
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#state")).to_have_text("succeeded", timeout=15_000)
    expect(page.locator("#player img")).to_be_visible()
    expect(page.locator("#job")).to_have_attribute("data-updates", "polling")
    assert polls
    # a dropped stream is tried again until the page gives up on it; after a 503 the browser
    # gives up at once, and without EventSource there is nothing to try
    if how == "abort":
        assert len(streams) >= 1
    else:
        assert len(streams) == {"503": 1, "missing": 0}[how]
    shot(page, f"job-polling-after-{how}")


def row_of(page: Page, job_id: str):
    return page.locator("#jobs li", has=page.locator(f'a[href="/jobs/{job_id}"]'))


def job_count(page: Page) -> int:
    text = page.locator("#jobs-status").text_content()
    return 0 if text == "No jobs yet." else int(text.split()[0])


def test_the_jobs_page_shows_a_new_job_come_and_finish_through_events_alone(page, service):
    # given the jobs page, following the event stream, on which every fetch of the list fails
    page.goto("/jobs")
    expect(page.locator("#jobs")).to_have_attribute("data-updates", "events")
    expect(page.locator("#jobs-status")).not_to_have_text("Loading…")
    before = job_count(page)
    fetches = requests_to(page, LIST_URL)
    block(page, LIST_URL)
    block(page, ANY_JOB_URL)
    # when a job is made elsewhere
    name = f"events-{uuid.uuid4().hex[:6]}"
    pictures_in(service.inputs / name, 6)
    job = submit(service, name, codec="h264", name=name)
    # then its row comes in on top, and goes on to succeeded with its poster
    row = row_of(page, job["id"])
    expect(row).to_contain_text(name)
    expect(page.locator("#jobs li").first).to_contain_text(name)
    expect(row.locator(".badge")).to_have_text("succeeded")
    expect(row.locator("img.thumb")).to_be_visible()
    expect(page.locator("#jobs-status")).to_have_text(re.compile(rf"^{before + 1} jobs?\.$"))
    shot(page, "jobs-events")
    # and not one fetch of the list was made for it
    assert fetches == []


def test_the_jobs_page_polls_when_the_event_stream_is_refused(page, service):
    # given a server that refuses the stream of every job (503: too many streams open)
    refuse_streams(page, EVENTS_URL, "503")
    page.goto("/jobs")
    expect(page.locator("#jobs")).to_have_attribute("data-updates", "polling")
    # when a job is made, then the page's polls show it, finished
    job = submit(service, input_folder(service, 4), codec="h264", name=f"polled-{uuid.uuid4().hex[:6]}")
    expect(row_of(page, job["id"]).locator(".badge")).to_have_text("succeeded", timeout=15_000)
