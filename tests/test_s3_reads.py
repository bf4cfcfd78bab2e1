"""A frame's GET cut short by the store (killed mid-answer) is read again, never taken
for a whole frame: against a real HTTP server that answers the first GET with half of
the bytes it announces."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from img2vid.settings import Settings
from img2vid.storage.s3 import ObjectFrame, S3Storage

FRAME = bytes(range(256)) * 400 + b"\xff\xd9"  # ends as a JPEG does


class CutOnce(http.server.BaseHTTPRequestHandler):
    gets = 0

    def do_GET(self):
        type(self).gets += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(FRAME)))
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        if type(self).gets == 1:
            self.wfile.write(FRAME[: len(FRAME) // 2])  # then the connection is gone
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(FRAME)

    def log_message(self, *args):
        pass


@pytest.fixture
def store():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutOnce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings = Settings.from_env(
        storage="s3",
        s3_endpoint_url=f"http://127.0.0.1:{server.server_port}",
        s3_bucket="frames",
        s3_region="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        yield S3Storage(settings, retry_seconds=10)
    finally:
        server.shutdown()


def test_a_get_cut_short_is_read_again(store):
    # given a frame whose first GET the store cuts off halfway
    CutOnce.gets = 0
    frame = ObjectFrame("frame_1.jpg", "inputs/shots/frame_1.jpg", len(FRAME), store, threading.Event())
    # when it is read
    started = time.monotonic()
    data = frame.read(1 << 20)
    # then it is whole, from the second GET
    assert data == FRAME and CutOnce.gets >= 2 and time.monotonic() - started < 10
