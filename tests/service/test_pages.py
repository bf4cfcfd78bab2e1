"""The web pages in a real browser (Debian's Chromium, driven by Playwright) against the
real service: upload, watch, play, download, cancel, errors, the jobs list.

Screenshots of every page land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from browsertools import shot
from servicetools import HEAVY_CODEC, heavy_folder, input_folder, pictures_in


def frame_files(tmp_path: Path, n: int, **kw) -> list[str]:
    folder = pictures_in(tmp_path / "upload", n, **kw)
    return sorted(str(p) for p in folder.iterdir())


def test_upload_watch_play_and_download(page, service, tmp_path):
    # given the submit page, with a codec that plays in browsers preselected
    page.goto("/")
    expect(page.get_by_label("Format")).to_have_value("h264")
    shot(page, "submit-empty")
    # when 30 frames are chosen and sent
    page.set_input_files("#files", frame_files(tmp_path, 30, size=(320, 240)))
    expect(page.locator("#file-summary")).to_contain_text("30 pictures")
    page.get_by_label("Frames per second").fill("10")
    shot(page, "submit-ready")
    page.get_by_role("button", name="Make video").click()
    # then the job page follows it to 100 %
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))
    expect(page.locator("#state")).to_have_text("succeeded")
    expect(page.locator("#progress-text")).to_have_text("30 of 30 frames (100 %)")
    assert page.locator("#progress-bar").evaluate("el => el.value") == 100
    # and the video plays in the page
    page.wait_for_function(
        "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 2 && v.duration > 0; }"
    )
    duration = page.locator("#player video").evaluate("v => v.duration")
    assert duration == pytest.approx(3.0, abs=0.15)
    shot(page, "job-succeeded")
    # and the download holds the same bytes the API serves
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download").click()
    job_id = page.url.rsplit("/", 1)[1]
    _, _, served = service.request("GET", f"/api/v1/jobs/{job_id}/video")
    assert Path(dl.value.path()).read_bytes() == served
    assert dl.value.suggested_filename == f"{job_id}.mp4"


def test_a_server_folder_in_a_format_browsers_cannot_play(page, service):
    # given a folder of frames on the server
    rel = f"garden-{uuid.uuid4().hex[:6]}"
    pictures_in(service.inputs / rel, 12)
    page.goto("/")
    page.get_by_label("A folder on the server").check()
    # when it is picked from the list, which shows its frame count
    row = page.locator("#folders li", has_text=rel)
    expect(row).to_contain_text("12 frames")
    shot(page, "submit-server-folder")
    row.get_by_role("button", name="Use").click()
    page.get_by_label("Format").select_option("mp4v")
    page.get_by_role("button", name="Make video").click()
    # then the finished job shows the poster and says why there is no player
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))
    expect(page.locator("#state")).to_have_text("succeeded")
    expect(page.locator("#player img")).to_be_visible()
    expect(page.locator("#result-text")).to_contain_text("browsers cannot play this format")
    assert page.locator("#player video").count() == 0
    shot(page, "job-not-playable")


def test_cancel_from_the_job_page(page, service):
    rel = heavy_folder(service)
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": HEAVY_CODEC})
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#state")).to_have_text("running")
    expect(page.locator("#progress-text")).to_contain_text(" of 60 frames")
    shot(page, "job-running")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#state")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    shot(page, "job-cancelled")


def test_mistakes_are_caught_in_the_page_before_upload(page, tmp_path):
    page.goto("/")
    page.get_by_role("button", name="Make video").click()
    expect(page.locator("#form-error")).to_have_text("Choose the pictures to upload, or one zip archive.")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    page.set_input_files("#files", [str(notes)])
    page.get_by_role("button", name="Make video").click()
    expect(page.locator("#form-error")).to_contain_text("None of these files is a picture")
    page.set_input_files("#files", frame_files(tmp_path, 2))
    page.get_by_label("Frames per second").fill("0")
    page.get_by_role("button", name="Make video").click()
    expect(page.locator("#form-error")).to_contain_text("Frames per second must be a number from 0.01 to 240")
    page.get_by_label("Frames per second").fill("24")
    page.get_by_label("Size (optional)").fill("big")
    page.get_by_role("button", name="Make video").click()
    expect(page.locator("#form-error")).to_contain_text("like 1280x720")
    shot(page, "submit-mistake")
    assert page.url.endswith("/")  # nothing was sent


def test_a_bad_upload_shows_the_servers_error_naming_the_file(page, tmp_path):
    files = frame_files(tmp_path, 3)
    broken = tmp_path / "upload" / "broken_7.png"
    broken.write_bytes(b"\x89PNG but not really")
    page.goto("/")
    page.set_input_files("#files", [*files, str(broken)])
    page.get_by_role("button", name="Make video").click()
    expect(page.locator("#form-error")).to_contain_text("“broken_7.png” could not be read")
    shot(page, "submit-server-error")


def test_a_job_that_fails_says_which_frame_in_plain_words(page, service):
    rel = input_folder(service, 4, ext=".jpg")
    bad = service.inputs / rel / "frame_2.jpg"
    bad.write_bytes(bad.read_bytes()[:-60])
    _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("#state")).to_have_text("failed")
    expect(page.locator("#job-error")).to_contain_text("“frame_2.jpg” could not be read")
    shot(page, "job-failed")


def test_jobs_page_lists_filters_and_pages(page, service):
    rel = f"beach-{uuid.uuid4().hex[:6]}"
    pictures_in(service.inputs / rel, 3)
    for _ in range(2):
        _, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": "h264"})
        service.wait_state(job["id"], "succeeded")
    page.goto("/jobs")
    first = page.locator("#jobs li").first
    expect(first.locator("a")).to_have_attribute("href", f"/jobs/{job['id']}")  # newest first
    expect(first.locator("img.thumb")).to_be_visible()
    shot(page, "jobs")
    page.get_by_label("Show").select_option("failed")
    expect(page).to_have_url(re.compile(r"/jobs\?state=failed$"))
    expect(page.locator("#jobs li .badge").first).to_have_text("failed")
    badges = page.locator("#jobs li .badge").all_text_contents()
    assert set(badges) == {"failed"}
    # with more than a page of jobs, Older leads to the next page
    service.request("POST", "/api/v1/batch", {"jobs": [{"source": {"dir": rel}}] * 21})
    page.get_by_label("Show").select_option("")
    page.get_by_role("button", name="Older →").click()
    expect(page.locator("#page-text")).to_contain_text("Page 2 of")
    expect(page).to_have_url(re.compile(r"/jobs\?offset=20$"))
    assert page.locator("#jobs li").count() >= 1


def test_pages_work_at_phone_width(browser, service):
    context = browser.new_context(base_url=service.url, viewport={"width": 375, "height": 740}, is_mobile=True)
    pg = context.new_page()
    for path, name in (("/", "phone-submit"), ("/jobs", "phone-jobs")):
        pg.goto(path)
        expect(pg.locator("h1")).to_be_visible()
        # nothing wider than the screen
        assert pg.evaluate("document.documentElement.scrollWidth") <= 375
        shot(pg, name)
    context.close()


def test_keyboard_and_labels(page):
    # Listening from the start: Playwright turns on file-chooser interception when the
    # first listener appears, and a key pressed before that is lost to a real dialog.
    choosers = []
    page.on("filechooser", lambda chooser: choosers.append(chooser))
    page.goto("/")
    # every control has a label a screen reader can read
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, button')]
        .filter(el => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.textContent.trim()
                      && !el.getAttribute('aria-label'))
        .map(el => el.id || el.name)""")
    assert unlabelled == []
    # the file picker is reachable with Tab, shows where focus is, and opens with the keyboard
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "files":
            break
    assert page.evaluate("document.activeElement.id") == "files"
    outline = page.locator("#dropzone").evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    shot(page, "submit-keyboard-focus")
    page.keyboard.press("Enter")
    for _ in range(100):  # Playwright delivers events while it is called: poll through it
        if choosers:
            break
        page.wait_for_timeout(100)
    assert choosers, "Enter on the file picker opened no file chooser within 10 s"
    chooser = choosers[0]
    assert chooser.is_multiple()


def test_the_form_is_protected_against_cross_site_posts(service):
    status, _, body = service.request("POST", "/jobs/new", {"source": {"dir": "x"}})
    assert status == 403 and body["error"]["code"] == "csrf_failed"
    status, _, _ = service.request("POST", "/jobs/0123456789abcdef00/cancel", headers={"X-CSRF-Token": "guess"})
    assert status == 403


def test_a_job_page_is_titled_by_the_jobs_name_with_its_id_beside(page, service):
    # given a job given a name
    status, _, job = service.request(
        "POST", "/api/v1/jobs", {"source": {"dir": input_folder(service, 3)}, "name": "holiday-2026"}
    )
    assert status == 202, job
    # when its page is opened, then the name is the heading and the tab's title, and the id is shown too
    page.goto(f"/jobs/{job['id']}")
    expect(page.locator("h1")).to_have_text("holiday-2026")
    expect(page).to_have_title(re.compile(r"holiday-2026 · img2vid$"))
    expect(page.locator(".job-id")).to_contain_text(job["id"])
    expect(page.locator("#state")).to_have_text(re.compile("succeeded", re.I), timeout=30_000)
    shot(page, "job-named")


def test_an_unknown_job_page_is_a_friendly_404(page, service):
    response = page.goto("/jobs/0123456789abcdef00")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("No such job")


def test_a_large_upload_shows_its_progress(page, service, tmp_path):
    # given a slow link (2 MB/s up) and about 6 MB of frames
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 2_000_000},
    )
    files = frame_files(tmp_path, 3, size=(1024, 768), ext=".bmp")  # ~2.4 MB each, uncompressed
    page.goto("/")
    page.set_input_files("#files", files)
    page.get_by_role("button", name="Make video").click()
    # then a progress bar counts the bytes up while they go
    expect(page.locator("#upload-progress")).to_be_visible()
    page.wait_for_function("() => { const v = document.getElementById('upload-bar').value; return v > 0 && v < 100; }")
    expect(page.locator("#upload-text")).to_contain_text("% — ")
    shot(page, "submit-uploading")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]+$"))
