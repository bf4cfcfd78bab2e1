"""HTTP details an error must keep, ranges a client may send, what every answer tells
the browser, and pages that stay pages when something fails."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from img2vid.testing import Stack

from servicetools import Service, input_folder


@pytest.fixture(scope="module")
def video(hostile) -> tuple[str, int]:
    """A finished job's id and its video's size in bytes."""
    rel = input_folder(hostile.open, 4)
    job = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": "h264"})[2]
    done = hostile.open.wait_state(job["id"], "succeeded")
    return job["id"], done["result"]["bytes"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/api/v1/jobs", {"GET", "POST"}),
        ("DELETE", "/api/v1/batch", {"POST"}),
        ("PATCH", "/api/v1/jobs/0123456789abcdef", {"GET", "DELETE"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_405_says_which_methods_are_allowed(hostile, method, path, allowed):
    status, headers, body = hostile.open.request(method, path, raw=b"")
    assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    assert allowed <= {m.strip() for m in headers["Allow"].split(",")}, headers["Allow"]


def test_a_range_past_the_end_is_416_with_the_files_length(hostile, video):
    job_id, size = video
    status, headers, body = hostile.open.request(
        "GET", f"/api/v1/jobs/{job_id}/video", headers={"Range": f"bytes={size + 10}-"}
    )
    assert (status, body["error"]["code"]) == (416, "range_not_satisfiable")
    assert headers["Content-Range"] == f"bytes */{size}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=5-2",
        "bytes=0-0,5-10",
        "bytes=0-1,2-3,4-5",
        "pages=1-2",
        "bytes=",
        "bytes=--1",
        "bytes=0-1," * 200,
    ],
)
def test_an_unusable_range_is_ignored_and_the_whole_file_sent(hostile, video, header):
    job_id, size = video
    for path in (f"/api/v1/jobs/{job_id}/video", f"/api/v1/jobs/{job_id}/poster.jpg"):
        status, headers, body = hostile.open.request("GET", path, headers={"Range": header})
        assert status == 200 and "Content-Range" not in headers, (path, header)
        hostile.ledger.note(f"range {header} {path.rsplit('/', 1)[1]}")
    assert len(hostile.open.request("GET", f"/api/v1/jobs/{job_id}/video", headers={"Range": header})[2]) == size


def test_a_good_range_is_still_a_206(hostile, video):
    job_id, size = video
    status, headers, body = hostile.open.request("GET", f"/api/v1/jobs/{job_id}/video", headers={"Range": "bytes=0-9"})
    assert status == 206 and headers["Content-Range"] == f"bytes 0-9/{size}" and len(body) == 10


@pytest.mark.parametrize(
    "path", ["/", "/jobs", "/api/v1/jobs?limit=1", "/static/app.css", "/healthz", "/api/v1/nothing", "/nowhere"]
)
def test_every_answer_forbids_sniffing_and_framing(hostile, path):
    status, headers, _ = hostile.open.request("GET", path)
    assert headers["X-Content-Type-Options"] == "nosniff", path
    assert headers["X-Frame-Options"] == "DENY", path
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "'unsafe-inline'" not in csp, csp


def test_the_pages_break_no_rule_of_their_policy_in_a_browser(hostile, browser, video):
    # given each page, a finished job's playing its video, in Chromium
    job_id, _ = video
    context = browser.new_context(base_url=hostile.open.url)
    page = context.new_page()
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    try:
        for path in ("/", "/jobs", f"/jobs/{job_id}"):
            page.goto(path)
            page.wait_for_load_state("networkidle")
        page.wait_for_function(
            "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 2; }"
        )
        # then none of their scripts, styles, images or the video was refused by the policy
        assert violations == []
        # and another site cannot show them in a frame (set_content waits for the frame's load)
        page.set_content(f'<iframe id="f" src="{hostile.open.url}/jobs"></iframe>')
        assert page.frame_locator("#f").locator("#jobs-status").count() == 0
    finally:
        context.close()


def test_a_page_asked_for_while_redis_is_down_is_a_page(hostile, tmp_path):
    # given a web process whose Redis has gone away (its own Redis; its log is not audited:
    # a 503 is the right answer here)
    stack = Stack(
        data_dir=tmp_path,
        log_dir=Path("test-artifacts/logs/hostile-outage"),
        env={**hostile.stack.env, "IMG2VID_DATA_DIR": str(tmp_path)},
    )
    try:
        redis_proc, url = stack.start_redis(name="redis-outage")
        _, web = stack.start_web(workers=1, env={"IMG2VID_REDIS_URL": url}, name="web-outage")
        redis_proc.stop()
        service = Service(web, tmp_path, stack, None, "")
        # when a person opens a job's page, then an HTML page saying so, with the status
        req = urllib.request.Request(web + "/jobs/0123456789abcdef0123", headers={"Accept": "text/html,*/*;q=0.8"})
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError("a job page without Redis answered 200")
        except urllib.error.HTTPError as e:
            status, ctype, html = e.code, e.headers["Content-Type"], e.read().decode()
        assert status == 503 and ctype.startswith("text/html"), (status, ctype)
        assert "<h1>The service is unavailable</h1>" in html and "redis_unavailable" in html
        assert url.rsplit(":", 1)[1].split("/")[0] not in html and url not in html
        # while a script asking the API is answered in JSON
        status, _, body = service.request("GET", "/api/v1/jobs/0123456789abcdef0123")
        assert status == 503 and body["error"]["code"] == "redis_unavailable"
        assert "127.0.0.1" not in body["error"]["message"]
        # and /readyz names no host either
        status, _, ready = service.request("GET", "/readyz")
        assert status == 503 and not re.search(r"\d+\.\d+\.\d+\.\d+|:\d{4,5}", ready["message"])
    finally:
        stack.stop()


def test_an_unknown_page_is_a_page_and_an_unknown_api_path_is_json(hostile):
    req = urllib.request.Request(hostile.open.url + "/no/such/page", headers={"Accept": "text/html"})
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code == 404 and e.headers["Content-Type"].startswith("text/html")
        assert "<h1>Not found</h1>" in e.read().decode()
    status, _, body = hostile.open.request("GET", "/api/v1/no/such/thing", headers={"Accept": "text/html"})
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",
        "limit=%EF%BC%91%EF%BC%92",
        "offset=-1",
        "limit=0",
        "limit=1e3",
        "limit=99999999999999999999999",
        "offset=%00",
        "state=%00",
        "state=Running",
        "state=%ED%A0%80",
        "limit=",
        "limit=%20",
        "offset=1000001",
    ],
)
def test_a_bad_query_on_the_job_list_is_a_400(hostile, query):
    status, _, body = hostile.open.request("GET", f"/api/v1/jobs?{query}")
    assert (status, body["error"]["code"]) == (400, "invalid_option"), (query, body)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/%ff",
        "/api/v1/jobs/..%2f..%2fetc%2fpasswd",
        "/api/v1/jobs/" + "a" * 5000,
        "/api/v1/jobs/%00/video",
        "/api/v1/inputs?dir=%00",
        "/api/v1/inputs?dir=..%2f..",
        "/api/v1/inputs?dir=%ED%A0%80",
        "/api/v1/inputs?dir=" + "d/" * 600,
        "/jobs/%ff",
        "/static/..%2f..%2fsecret",
    ],
)
def test_odd_paths_are_4xx(hostile, path):
    status, _, _ = hostile.open.request("GET", path)
    assert 400 <= status < 500, (path, status)
