"""The Python client (img2vid.client) against small local HTTP servers in threads, for
what the real service never does: redirect, stand behind a proxy, stream no events, or
drop an event stream mid-way. Real HTTP on real sockets; the real service is in
tests/service/test_client_api.py."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from img2vid.client import Client, ClientError, RedirectError, ServerUnreachableError, WaitTimeoutError
from img2vid.testing import free_port

JOB_ID = "1a2b3c4d5e6f7a8b9c0d1"


def job(state: str, done: int = 0) -> dict:
    return {"id": JOB_ID, "state": state, "progress": {"frames_done": done, "frames_total": 4}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer: Callable[[BaseHTTPRequestHandler], None]

    def do_GET(self) -> None:
        self.server.seen.append((self.requestline, dict(self.headers)))
        type(self).answer(self)

    do_POST = do_DELETE = do_GET

    def log_message(self, *args) -> None:
        pass

    def send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, doc: object, **headers: str) -> None:
        self.send(status, json.dumps(doc).encode(), **headers)


@contextlib.contextmanager
def serving(answer: Callable[[Handler], None]) -> Iterator[ThreadingHTTPServer]:
    """A local HTTP server answering every request with ``answer(handler)``; its
    ``seen`` lists (request line, headers) of every request, its ``url`` its address."""
    handler = type("Stub", (Handler,), {"answer": staticmethod(answer)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.seen = []
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_redirect_is_an_error_naming_where_it_points(no_proxy_env):
    # given a server that redirects every request elsewhere
    elsewhere = "https://img2vid.example/api/v1/jobs/x"
    # when asked for a job, then the redirect is an error naming its target, not followed
    with (
        serving(lambda h: h.send_json(302, {}, Location=elsewhere)) as server,
        Client(server.url) as client,
        pytest.raises(RedirectError) as refused,
    ):
        client.get("x")
    assert refused.value.status == 302 and refused.value.location == elsewhere
    assert elsewhere in refused.value.message and refused.value.code == "redirected"
    assert [line for line, _ in server.seen] == ["GET /api/v1/jobs/x HTTP/1.1"]


def test_the_proxy_settings_of_the_environment_are_honoured(no_proxy_env):
    # given HTTP_PROXY naming a local proxy, and a server address that only it answers for
    target = f"http://127.0.0.1:{free_port()}"
    with serving(lambda h: h.send_json(200, job("queued"))) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        # when a job is asked for, then the request goes through the proxy, by full URL
        with Client(target, token="t" * 20) as client:
            assert client.get(JOB_ID)["state"] == "queued"
        line, headers = proxy.seen[0]
        assert line == f"GET {target}/api/v1/jobs/{JOB_ID} HTTP/1.1"
        assert headers["Authorization"] == "Bearer " + "t" * 20
        # and with the server in NO_PROXY, it goes straight there (where nothing listens)
        no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        with Client(target) as client, pytest.raises(ServerUnreachableError) as refused:
            client.get(JOB_ID)
        assert target in refused.value.message and len(proxy.seen) == 1


@pytest.mark.parametrize(
    "events_route",
    [
        lambda h: h.send_json(404, {"error": {"code": "not_found", "message": "no such page"}}),
        lambda h: h.send(200, b"<html>a page</html>", "text/html"),
    ],
    ids=["404", "not-an-event-stream"],
)
def test_wait_polls_where_the_server_streams_no_events(no_proxy_env, events_route):
    # given a server whose job runs for three polls, and that has no event stream
    polls = []

    def answer(h: Handler) -> None:
        if h.path.endswith("/events"):
            return events_route(h)
        polls.append(h.path)
        h.send_json(200, job("running", len(polls)) if len(polls) < 4 else job("succeeded", 4))

    with serving(answer) as server, Client(server.url, poll_interval=0.02) as client:
        seen = []
        final = client.wait(JOB_ID, timeout=30, on_event=seen.append)
    # then wait asked once for the events, then polled the job to its end
    assert final["state"] == "succeeded"
    assert [line.split()[1] for line, _ in server.seen].count(f"/api/v1/jobs/{JOB_ID}/events") == 1
    assert [e.type for e in seen] == ["progress", "progress", "succeeded"] and {e.id for e in seen} == {None}


def test_wait_gives_up_at_its_timeout(no_proxy_env):
    def answer(h: Handler) -> None:
        if h.path.endswith("/events"):
            return h.send_json(404, {"error": {"code": "not_found", "message": "no"}})
        h.send_json(200, job("running", 1))

    with (
        serving(answer) as server,
        Client(server.url, poll_interval=0.02) as client,
        pytest.raises(WaitTimeoutError) as gave_up,
    ):
        client.wait(JOB_ID, timeout=0.3)
    assert gave_up.value.job["state"] == "running" and "still running" in gave_up.value.message


def test_a_dropped_event_stream_is_resumed_with_last_event_id(no_proxy_env):
    # given a server whose event stream drops after the first event, and which sends the
    # rest to a follower that says which event it saw last
    def answer(h: Handler) -> None:
        if not h.path.endswith("/events"):
            return h.send_json(200, job("running"))
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        if h.headers.get("Last-Event-ID") == "7-0":
            h.wfile.write(f"id: 8-0\nevent: succeeded\ndata: {json.dumps(job('succeeded', 4))}\n\n".encode())
        else:  # then the connection ends without a word
            h.wfile.write(
                f"retry: 10\n: hi\n\nid: 7-0\nevent: progress\ndata: {json.dumps(job('running', 2))}\n\n".encode()
            )
        h.close_connection = True

    with serving(answer) as server, Client(server.url) as client:
        events = list(client.events(JOB_ID))
    # then the follower saw every event once, in order, and asked again from the last
    assert [(e.id, e.type) for e in events] == [("7-0", "progress"), ("8-0", "succeeded")]
    streams = [headers for line, headers in server.seen if line.split()[1].endswith("/events")]
    assert len(streams) == 2 and "Last-Event-ID" not in streams[0] and streams[1]["Last-Event-ID"] == "7-0"


def test_every_refusal_is_a_client_error_with_the_servers_code(no_proxy_env):
    body = {"error": {"code": "job_state", "message": "job x has already succeeded"}}
    with serving(lambda h: h.send_json(409, body)) as server, Client(server.url) as client:
        refused = pytest.raises(ClientError, client.cancel, "x")
    assert (refused.value.code, refused.value.status, refused.value.message) == (
        "job_state",
        409,
        "job x has already succeeded",
    )
