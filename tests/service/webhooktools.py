"""A webhook receiver for the service tests: a real HTTP server in a thread of the test
process, on 127.0.0.1, that records every request and answers as a test scripts it."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # answer only once it is set


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it came
    client_port: int


class Receiver:
    """An HTTP server in a thread: records every request; answers each path with the
    answers scripted for it, in turn, then 200."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[Received] = []
        self.answers: dict[str, list[Answer]] = defaultdict(list)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver._answer(self)

            do_GET = do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _answer(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self.lock:
            self.received.append(
                Received(h.command, h.path, dict(h.headers), body, time.monotonic(), h.client_address[1])
            )
            scripted = self.answers[h.path]
            answer = scripted.pop(0) if scripted else Answer()
        if answer.hold is not None:
            answer.hold.wait(30)
        try:
            h.send_response(answer.status)
            for name, value in answer.headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"ok")
        except OSError:  # the caller is gone (a killed worker)
            pass

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> str:
        self.answers[path].extend(answers)
        return self.url(path)

    def to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
