"""Safe by default: no other site can make a visitor's browser change anything, a bad
setting stops a process at once with one line, and a job cannot run for ever."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from img2vid.cli.processes import free_port, web_argv, worker_argv
from img2vid.testing import Stack

from servicetools import heavy_folder, input_folder, png_bytes, upload


def job_count(service) -> int:
    return service.request("GET", "/api/v1/jobs?limit=1")[2]["total"]


# --- cross-site writes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1.evil.example"},
        {"Origin": "file://"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "not a url"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["foreign", "null", "lookalike", "file", "fetch-metadata", "garbage", "both"],
)
def test_a_write_from_another_site_is_refused(hostile, headers):
    rel = input_folder(hostile.open, 2)
    before = job_count(hostile.open)
    spec = {"source": {"dir": rel}}
    for method, path, body in (
        ("POST", "/api/v1/jobs", spec),
        ("POST", "/api/v1/batch", {"jobs": [spec]}),
        ("POST", "/api/v1/jobs/0123456789abcdef/cancel", None),
        ("DELETE", "/api/v1/jobs/0123456789abcdef", None),
    ):
        status, _, answer = hostile.open.request(method, path, body, headers=headers)
        assert (status, answer["error"]["code"]) == (403, "cross_site_request"), (method, path, answer)
    # and an upload, the kind a page can send without asking (a no-cors form post)
    status, _, answer = upload(hostile.open, {}, [("frames", "a.png", png_bytes())], headers=headers)
    assert status == 403
    assert job_count(hostile.open) == before


def test_scripts_and_this_sites_pages_still_write(hostile):
    rel = input_folder(hostile.open, 2)
    host = hostile.open.url.removeprefix("http://")
    for headers in (
        {},
        {"Origin": hostile.open.url},
        {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ):
        status, _, job = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}}, headers=headers)
        assert status == 202, (headers, job)
    # and a foreign page's request that carries a bearer token (which a browser cannot
    # attach across sites without this server's consent) is judged by its token
    status, _, _ = hostile.open.request(
        "POST",
        "/api/v1/jobs",
        {"source": {"dir": rel}},
        headers={"Origin": "https://evil.example", "Authorization": "Bearer anything"},
    )
    assert status == 202


def test_another_sites_page_in_a_browser_cannot_create_a_job(hostile, browser):
    # given a page on another origin (another port) that posts frames to the API the way
    # any site can: a no-cors fetch of a form with a file in it
    page_html = f"""<!doctype html><script>
      const data = new FormData();
      data.append("frames", new Blob([new Uint8Array({list(png_bytes())})], {{type: "image/png"}}), "a.png");
      fetch("{hostile.open.url}/api/v1/jobs", {{method: "POST", mode: "no-cors", body: data}})
        .then(() => document.title = "sent", () => document.title = "failed");
    </script>""".encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = job_count(hostile.open)
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_response(lambda r: "/api/v1/jobs" in r.url) as sent:
            page.goto(f"http://127.0.0.1:{server.server_port}/")
        # then the browser sent it (with the page's Origin, which it adds itself), and the
        # server refused it: no job was made
        assert sent.value.status == 403
        assert job_count(hostile.open) == before
    finally:
        context.close()
        server.shutdown()
    hostile.ledger.note("a no-cors form post from another site's page")


# --- bad settings ------------------------------------------------------------------------

BAD_SETTINGS = [
    # the old name still works, and its refusal names it
    ({"API_TOKENS": "alice:tiny-token"}, "API_TOKENS: entry 1 (alice): the token has 10 characters"),
    ({"IMG2VID_API_TOKENS": "root:short:admin"}, "API_TOKENS: entry 1 (root): the token has 5 characters"),
    ({"IMG2VID_MAX_FRAMES": "abc"}, "IMG2VID_MAX_FRAMES must be a whole number, got 'abc'"),
    ({"IMG2VID_MAX_FRAMES": "0"}, "IMG2VID_MAX_FRAMES must be at least 1"),
    ({"IMG2VID_MAX_FRAME_BYTES": "-5"}, "IMG2VID_MAX_FRAME_BYTES must be at least 1"),
    ({"IMG2VID_ENV": "production", "IMG2VID_SECRET_KEY": ""}, "SECRET_KEY must be set when IMG2VID_ENV=production"),
    ({"IMG2VID_RATE_LIMIT": "lots"}, "IMG2VID_RATE_LIMIT must be a rate limit such as '50 per second'"),
    ({"IMG2VID_LOG_LEVEL": "LOUD"}, "IMG2VID_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR"),
    (
        {"IMG2VID_QUEUE": "img2vid:q", "IMG2VID_KEY_PREFIX": "img2vid:"},
        "IMG2VID_QUEUE ('img2vid:q') must not start with IMG2VID_KEY_PREFIX",
    ),
    ({"IMG2VID_TRUSTED_PROXIES": "-1"}, "IMG2VID_TRUSTED_PROXIES must be at least 0"),
    ({"WEB_TIMEOUT": "soon"}, "WEB_TIMEOUT must be a whole number above 0"),
]


def _run_until_exit(argv: list[str], env: dict, log: Path, timeout: float = 20) -> tuple[int, float, list[str]]:
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise AssertionError(f"{argv[0]} was still running {timeout} s after starting with a bad setting") from None
    return code, time.monotonic() - started, log.read_text().splitlines()


@pytest.mark.parametrize(
    "setting, words", BAD_SETTINGS, ids=[next(iter(s)) + f"-{i}" for i, (s, _) in enumerate(BAD_SETTINGS)]
)
def test_a_bad_setting_stops_gunicorn_at_once_with_one_line(hostile, tmp_path, setting, words):
    # when the web app is started as `img2vid up` and the images start it, with one setting wrong
    port = free_port()
    env = {
        **os.environ,
        **hostile.stack.env,
        "IMG2VID_DATA_DIR": str(tmp_path),
        "IMG2VID_SECRET_KEY": "k" * 32,
        **setting,
    }
    code, seconds, lines = _run_until_exit(web_argv(port, workers=2), env, tmp_path / "web.log")
    hostile.ledger.note(f"setting {setting}")
    # then it exits non-zero within seconds, never having booted a worker, saying which
    # setting and why in one line, with no traceback and no token
    assert code != 0 and seconds < 15, (code, seconds, lines)
    naming = [line for line in lines if words in line]
    assert len(naming) == 1, lines
    assert not any("Booting worker" in line or "Traceback" in line or "traceback" in line for line in lines), lines
    assert "tiny-token" not in "\n".join(lines) and "short" not in "\n".join(lines)


# Each process checks what it reads: the time limit is the workers' alone.
WORKER_BAD_SETTINGS = [
    *BAD_SETTINGS[2:5],
    ({"IMG2VID_TASK_TIME_LIMIT": "soon"}, "IMG2VID_TASK_TIME_LIMIT must be a whole number"),
]


@pytest.mark.parametrize(
    "setting, words", WORKER_BAD_SETTINGS, ids=["frames-abc", "frames-0", "frame-bytes", "time-limit"]
)
def test_a_bad_setting_stops_a_worker_with_one_line(hostile, tmp_path, setting, words):
    env = {**os.environ, **hostile.stack.env, "IMG2VID_DATA_DIR": str(tmp_path), **setting}
    code, seconds, lines = _run_until_exit(worker_argv("bad"), env, tmp_path / "worker.log", timeout=30)
    hostile.ledger.note(f"worker setting {setting}")
    assert code != 0 and len(lines) == 1 and words in lines[0], lines


# --- time limits -------------------------------------------------------------------------


def test_a_job_over_its_time_limit_fails_once_and_is_not_run_again(hostile, tmp_path):
    # given a worker whose jobs may run 2 s, and a web on its own queue
    # Its queue's name starts as the system's does, so that the clean-up finds its keys.
    env = {
        **hostile.stack.env,
        "IMG2VID_QUEUE": hostile.stack.env["IMG2VID_QUEUE"] + "-timed",
        "IMG2VID_TASK_TIME_LIMIT": "2",
    }
    stack = Stack(data_dir=hostile.open.data, log_dir=Path("test-artifacts/logs/hostile"), env=env)
    try:
        worker = stack.start_worker("worker-timed")
        _, url = stack.start_web(workers=1, name="web-timed")
        stack.wait_workers(url, 1)
        from servicetools import Service

        timed = Service(url, hostile.open.data, stack, hostile.open.redis, hostile.open.prefix)
        # when a job that needs longer is run (60 1080p frames, upscaled to 4K, in h264)
        status, _, job = timed.request(
            "POST", "/api/v1/jobs", {"source": {"dir": heavy_folder(timed, 60)}, "codec": "h264", "size": "3840x2160"}
        )
        assert status == 202, job
        done = timed.wait_state(job["id"], "failed", "succeeded", timeout=60)
        # then it fails with its own code, on its first and only run, and the worker lives on
        assert done["state"] == "failed" and done["error"]["code"] == "time_limit_exceeded", done
        assert "IMG2VID_TASK_TIME_LIMIT" in done["error"]["message"] and done["attempts"] == 1
        from img2vid.store import JobStore

        runs = JobStore(hostile.open.redis, hostile.open.prefix).runs(job["id"])
        assert [r["ev"] for r in runs] == ["start", "end"] and runs[1]["t"] - runs[0]["t"] < 10, runs
        assert worker.alive
        small = timed.request("POST", "/api/v1/jobs", {"source": {"dir": input_folder(timed, 2)}})[2]
        assert timed.wait_state(small["id"], "succeeded")["attempts"] == 1
    finally:
        stack.stop()
