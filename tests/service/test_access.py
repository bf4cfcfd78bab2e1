"""Access control and rate limits, on web processes of their own (real gunicorn) that
share the session service's Redis, prefix and queue, so its worker runs their jobs:

- ``guarded``: API_TOKENS set (two named tokens and a bare one), generous limits;
- ``limited``: API_TOKENS set and tiny rate limits.

The session service itself runs with API_TOKENS unset: every other service test is the
proof that the default stays open.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from img2vid.apitokens import bare_name
from img2vid.testing import Stack

from browsertools import shot
from servicetools import Service, img2vid, input_folder, one_error_line

ALICE, BOB, BARE = (secrets.token_urlsafe(24) for _ in range(3))
CAROL, DAVE, ERIN = (secrets.token_urlsafe(24) for _ in range(3))
LIMITED_REQUESTS = 6  # per minute, per token or address
LIMITED_CREATES = 2


def _web(service: Service, name: str, env: dict[str, str]):
    stack = Stack(data_dir=service.data, log_dir=Path("test-artifacts/logs/access"), env=dict(service.stack.env))
    try:
        _, url = stack.start_web(workers=1, env=env, name=name)
    except BaseException:
        stack.stop()
        raise
    return stack, url


@pytest.fixture(scope="module")
def guarded(service):
    # By the setting's old name, which still works (the limited web uses the new one).
    stack, url = _web(service, "web-guarded", {"API_TOKENS": f"alice:{ALICE}, bob:{BOB}, {BARE}"})
    yield Service(url, service.data, stack, service.redis, service.prefix)
    stack.stop()


@pytest.fixture(scope="module")
def limited(service):
    stack, url = _web(
        service,
        "web-limited",
        {
            "IMG2VID_API_TOKENS": f"carol:{CAROL},dave:{DAVE},erin:{ERIN}",
            "IMG2VID_RATE_LIMIT": f"{LIMITED_REQUESTS} per minute",
            "IMG2VID_RATE_LIMIT_CREATE": f"{LIMITED_CREATES} per minute",
        },
    )
    yield Service(url, service.data, stack, service.redis, service.prefix)
    stack.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class CookieClient:
    """A script with a cookie jar that follows no redirect: sees what a browser is sent."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def send(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode(errors="replace")

    def csrf_from(self, path: str = "/signin") -> str:
        status, _, html = self.send("GET", path)
        assert status == 200, html
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    def sign_in(self, token: str, next_url: str = "/"):
        return self.send("POST", "/signin", {"csrf_token": self.csrf_from(), "token": token, "next": next_url})

    def session_cookie(self) -> str:
        return next(c.value for c in self.jar if c.name == "session")


def session_payload(cookie: str) -> bytes:
    """What Flask's signed (not encrypted) session cookie holds, as anyone can read it."""
    compressed = cookie.startswith(".")
    payload = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return zlib.decompress(raw) if compressed else raw


def finished_job(client: Service, state: str = "succeeded", codec: str = "h264") -> str:
    rel = input_folder(client, 6, ext=".jpg")
    if state == "failed":
        frame = client.inputs / rel / "frame_3.jpg"
        frame.write_bytes(frame.read_bytes()[:-60])
    status, _, job = client.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "codec": codec})
    assert status == 202, job
    return client.wait_state(job["id"], state, timeout=30)["id"]


# --- the API ------------------------------------------------------------------------------


def test_the_api_needs_a_valid_bearer_token(guarded):
    # when no token is sent, then 401 with the challenge
    status, headers, body = guarded.request("GET", "/api/v1/jobs")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"] == 'Bearer realm="img2vid"'
    # when a wrong token (or another scheme) is sent, then 401 saying the token is invalid
    # (its last character changed: random, it may have been an "x" already)
    wrong = ALICE[:-1] + ("y" if ALICE.endswith("x") else "x")
    for header in (f"Bearer {wrong}", f"Bearer {ALICE} extra", "Bearer ", f"Basic {ALICE}"):
        status, headers, body = guarded.request("GET", "/api/v1/jobs", headers={"Authorization": header})
        assert status == 401 and body["error"]["code"] == "unauthorized", header
        assert headers["WWW-Authenticate"] == 'Bearer realm="img2vid", error="invalid_token"', header
    # and nothing is created without a token
    status, _, body = guarded.request("POST", "/api/v1/jobs", {"source": {"dir": "anything"}})
    assert status == 401
    # when any of the tokens is sent, named or bare, then 200
    for token in (ALICE, BOB, BARE):
        status, _, body = guarded.as_(token).request("GET", "/api/v1/jobs?limit=1")
        assert status == 200 and "jobs" in body


def test_a_job_submitted_with_a_token_runs_and_its_files_need_the_token(guarded):
    alice = guarded.as_(ALICE)
    job_id = finished_job(alice)
    for path in (f"/api/v1/jobs/{job_id}/video", f"/api/v1/jobs/{job_id}/poster.jpg"):
        assert alice.request("GET", path)[0] == 200
        assert guarded.request("GET", path)[0] == 401


def test_health_stays_open_metrics_needs_a_token_and_the_document_says_so(guarded):
    # given no token: the container health checks still get their answers
    assert guarded.request("GET", "/healthz")[0] == 200
    status, _, ready = guarded.request("GET", "/readyz")
    assert status == 200 and ready["workers"] >= 1
    # and /metrics is refused without a token, served with one
    assert guarded.request("GET", "/metrics")[0] == 401
    status, _, text = guarded.as_(BOB).request("GET", "/metrics")
    assert status == 200 and b"img2vid_" in text
    # and the OpenAPI document is open, and requires the bearer scheme it declares
    status, _, doc = guarded.request("GET", "/api/v1/openapi.json")
    assert status == 200
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}]
    assert {"401", "429"} <= set(doc["paths"]["/api/v1/jobs"]["post"]["responses"])


def test_the_default_service_is_open(service):
    # given the session service, started without API_TOKENS
    status, _, _ = service.request("GET", "/api/v1/jobs?limit=1")
    assert status == 200
    _, _, doc = service.request("GET", "/api/v1/openapi.json")
    assert "security" not in doc and "bearerAuth" in doc["components"]["securitySchemes"]
    status, _, html = service.request("GET", "/jobs")
    assert status == 200 and b"Sign out" not in html


def test_the_cli_sends_IMG2VID_TOKEN(guarded):
    job_id = finished_job(guarded.as_(ALICE), codec="mp4v")
    env = {k: v for k, v in os.environ.items() if k != "IMG2VID_TOKEN"}
    # without a token: one error line with the server's code, exit 2 (a refused request)
    one_error_line(img2vid("status", job_id, "--server", guarded.url, env=env), "unauthorized", 2)
    # with one in the environment: the job's line
    run = img2vid("status", job_id, "--server", guarded.url, env={**env, "IMG2VID_TOKEN": ALICE})
    assert run.returncode == 0 and "succeeded" in run.stdout, run.stderr
    # and another token's holder is told there is no such job (jobs belong to their token)
    one_error_line(
        img2vid("status", job_id, "--server", guarded.url, env={**env, "IMG2VID_TOKEN": BOB}), "job_not_found", 2
    )


# --- pages and sessions -------------------------------------------------------------------


def test_pages_send_a_stranger_to_sign_in(guarded):
    c = CookieClient(guarded.url)
    # when a page is asked for without signing in, then the browser is sent to /signin,
    # which will bring it back to the page
    status, headers, _ = c.send("GET", "/")
    assert status == 302 and headers["Location"] == "/signin"
    status, headers, _ = c.send("GET", "/jobs?state=failed")
    location = urllib.parse.urlsplit(headers["Location"])
    assert status == 302 and location.path == "/signin"
    assert urllib.parse.parse_qs(location.query) == {"next": ["/jobs?state=failed"]}
    # and the pages' own POST routes answer 401 in JSON (their scripts read it)
    status, _, body = c.send("POST", "/jobs/new", headers={"X-CSRF-Token": "x", "Content-Type": "application/json"})
    assert status == 401 and '"unauthorized"' in body
    # while the sign-in page and its style sheet are open
    assert c.send("GET", "/signin")[0] == 200
    assert c.send("GET", "/static/app.css")[0] == 200


def test_signing_in_keeps_the_name_not_the_token_and_never_redirects_off_site(guarded):
    c = CookieClient(guarded.url)
    # when a wrong token is sent, then the form again, 401, and no session
    status, headers, html = c.sign_in(f"{BOB}nope")
    assert status == 401 and "not one this server knows" in html and "WWW-Authenticate" in headers
    assert c.send("GET", "/jobs")[0] == 302
    # when a sign-in comes without the form's CSRF token (another site posting it), then it is refused
    status, _, html = c.send("POST", "/signin", {"token": BOB, "next": "/jobs"})
    assert status == 403 and "expired" in html
    assert c.send("GET", "/jobs")[0] == 302
    # when an off-site "next" is given, then the right token signs in and lands on this site
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/signin"):
        status, headers, _ = CookieClient(guarded.url).sign_in(BOB, evil)
        assert status == 302 and headers["Location"] == "/", evil
    status, headers, _ = c.sign_in(BOB, "/jobs?state=failed")
    assert status == 302 and headers["Location"] == "/jobs?state=failed"
    # then the pages answer, and the cookie names bob without holding his token
    status, _, html = c.send("GET", "/jobs")
    assert status == 200 and "Signed in as <strong>bob</strong>" in html
    held = session_payload(c.session_cookie())
    assert b"bob" in held and BOB.encode() not in held
    # and a bare token signs in under its derived name
    other = CookieClient(guarded.url)
    other.sign_in(BARE)
    assert f"Signed in as <strong>{bare_name(BARE)}</strong>" in other.send("GET", "/")[2]


def test_a_signed_in_cookie_reads_the_api_but_cannot_change_anything(guarded):
    # given a signed-in browser session, and a job of alice's
    job_id = finished_job(guarded.as_(ALICE))
    c = CookieClient(guarded.url)
    c.sign_in(ALICE)
    # then the pages' scripts can read through the API with the cookie
    assert c.send("GET", f"/api/v1/jobs/{job_id}")[0] == 200
    assert c.send("GET", f"/api/v1/jobs/{job_id}/poster.jpg")[0] == 200
    # when another site makes that browser post to the API (the cookie goes along, no token),
    # then every change is refused: create, cancel, retry, delete
    json_headers = {"Content-Type": "application/json"}
    for method, path in (
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/batch"),
        ("POST", f"/api/v1/jobs/{job_id}/retry"),
        ("POST", f"/api/v1/jobs/{job_id}/cancel"),
        ("DELETE", f"/api/v1/jobs/{job_id}"),
    ):
        status, _, body = c.send(method, path, headers=json_headers)
        assert status == 401 and "Bearer" in body, (method, path)
    # and the pages' own POST routes still need the CSRF token their page carries
    status, _, body = c.send("POST", f"/jobs/{job_id}/retry", headers=json_headers)
    assert status == 403 and "csrf_failed" in body
    assert guarded.as_(ALICE).get_job(job_id)["state"] == "succeeded"  # still there


def test_sign_in_watch_a_job_and_sign_out_in_a_browser(browser, guarded):
    # given two jobs of bob's (made with his token; his page session sees them)
    bob = guarded.as_(BOB)
    done = finished_job(bob)
    failed = finished_job(bob, "failed")
    context = browser.new_context(base_url=guarded.url, viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    api = []
    page.on("response", lambda r: "/api/v1/" in r.url and api.append((r.url, r.status)))
    try:
        # given a stranger opening a job page, then the sign-in page, with no way round it
        page.goto(f"/jobs/{done}")
        expect(page).to_have_url(re.compile(r"/signin\?next="))
        expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
        expect(page.get_by_label("Access token")).to_be_focused()
        shot(page, "signin")
        # when a wrong token is entered, then the form again, saying so in plain words
        page.get_by_label("Access token").fill("not-the-right-token-at-all")
        with page.expect_response(lambda r: r.url.endswith("/signin") and r.request.method == "POST") as sent:
            page.get_by_role("button", name="Sign in").click()
        assert sent.value.status == 401
        expect(page.get_by_role("alert")).to_contain_text("That token is not one this server knows")
        shot(page, "signin-wrong-token")
        # when the right one is entered, then the job page it was going to, working
        page.get_by_label("Access token").fill(BOB)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(rf"/jobs/{done}$"))
        expect(page.locator("#state")).to_have_text("succeeded")
        page.wait_for_function(
            "() => { const v = document.querySelector('#player video'); return v && v.readyState >= 2; }"
        )
        expect(page.locator("header")).to_contain_text("Signed in as bob")
        shot(page, "signed-in-job")
        page.set_viewport_size({"width": 390, "height": 800})
        shot(page, "signed-in-job-phone")
        page.set_viewport_size({"width": 1100, "height": 800})
        # and the page's own POST (Try again, CSRF token and cookie) makes a new job
        page.goto(f"/jobs/{failed}")
        page.get_by_role("button", name="Try again").click()
        page.wait_for_url(lambda url: re.search(r"/jobs/[0-9a-f]+$", url) and not url.endswith(failed))
        expect(page.locator("#state")).to_have_text("failed")
        # and every API request the pages made (job JSON, video, poster) was served
        assert api and all(status in (200, 206, 304) for _, status in api), api
        # when signing out, then back to the sign-in page, and the API no longer reads the cookie
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        assert page.evaluate(f"fetch('/api/v1/jobs/{done}').then(r => r.status)") == 401
        page.goto("/jobs")
        expect(page).to_have_url(re.compile(r"/signin\?next=(%2F|/)jobs$"))
    finally:
        context.close()
    # and no token, right or wrong, was ever written to the web process's log
    log = (Path("test-artifacts/logs/access") / "web-guarded.log").read_text()
    for token in (ALICE, BOB, BARE, "not-the-right-token-at-all"):
        assert token not in log
    # and it said once per process that API_TOKENS has a new name
    renamed = [json.loads(line) for line in log.splitlines() if '"setting_renamed"' in line]
    assert renamed and all("API_TOKENS is read as IMG2VID_API_TOKENS" in e["message"] for e in renamed), renamed


# --- rate limits -------------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after_while_other_tokens_are_served(limited):
    carol, dave = limited.as_(CAROL), limited.as_(DAVE)
    # given carol's whole budget spent
    for _ in range(LIMITED_REQUESTS):
        assert carol.request("GET", "/api/v1/jobs?limit=1")[0] == 200
    # when she asks once more, then 429 with a Retry-After within the minute's window
    status, headers, body = carol.request("GET", "/api/v1/jobs?limit=1")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 61
    # while dave, counted apart, is served
    assert dave.request("GET", "/api/v1/jobs?limit=1")[0] == 200
    # and the health routes are never counted
    for _ in range(LIMITED_REQUESTS + 2):
        assert limited.request("GET", "/healthz")[0] == 200


def test_requests_without_a_valid_token_are_limited_by_address(limited):
    # when an address keeps guessing tokens, then its 401s turn into 429s
    answers = [
        limited.request("GET", "/api/v1/jobs", headers={"Authorization": f"Bearer guess-{i:016d}"})[0]
        for i in range(LIMITED_REQUESTS + 1)
    ]
    assert answers == [401] * LIMITED_REQUESTS + [429]
    # while a token holder from the same address is still served
    assert limited.as_(DAVE).request("GET", "/api/v1/jobs?limit=1")[0] == 200


def test_job_creation_has_a_budget_of_its_own(limited, service):
    erin = limited.as_(ERIN)
    rel = input_folder(service, 3)
    # given erin's job-creation budget spent
    for _ in range(LIMITED_CREATES):
        status, _, job = erin.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
        assert status == 202, job
    # when she creates one more, then 429
    status, headers, body = erin.request("POST", "/api/v1/jobs", {"source": {"dir": rel}})
    assert status == 429 and body["error"]["code"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    # while she can still read (her request budget is not spent)
    assert erin.request("GET", "/api/v1/jobs?limit=1")[0] == 200
