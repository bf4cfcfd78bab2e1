"""The Python API (img2vid.client.Client) in this process against the real service
(gunicorn, a Celery worker, Redis): the README's example, one connection for many
calls, and following jobs by their events."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

import pytest

from img2vid.client import EVENT_TYPES, Client, ClientError
from img2vid.testing import wait_until

from servicetools import input_folder
from videotools import read_back


class Relay:
    """A TCP relay in front of the service that counts the connections it accepts."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed
                return
            self.accepted += 1
            upstream = socket.create_connection(self.target)
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()


def test_the_readme_example(service, make_frames, tmp_path):
    # given a local folder of frames
    frames = make_frames(8)
    # when submitted, waited for and downloaded as the README shows
    with Client(service.url) as c:
        job = c.submit(frames, fps=8, codec="mjpg")
        job = c.wait(job["id"], timeout=60)
        assert job["state"] == "succeeded", job
        path = c.download(job["id"], tmp_path / "clip.avi")
    # then the video holds every frame
    assert path == tmp_path / "clip.avi" and len(read_back(path)) == 8


def test_one_connection_serves_every_call(service, make_frames, tmp_path):
    # given a client whose every connection is counted on the way to the service
    relay = Relay(service.url)
    try:
        with Client(relay.url) as c:
            # when it uploads (a list of frames), asks, lists, is refused, downloads, retries and deletes
            job = c.submit(sorted(make_frames(6).iterdir()), codec="mjpg")
            wait_until(lambda: c.get(job["id"])["state"] == "succeeded", 30, "the job to succeed")
            assert job["id"] in [j["id"] for j in c.list(limit=5)["jobs"]]
            with pytest.raises(ClientError):
                c.cancel(job["id"])  # 409: an error answer keeps the connection too
            c.download(job["id"], tmp_path / "v.avi")
            again = c.retry(job["id"])
            wait_until(lambda: c.get(again["id"])["state"] == "succeeded", 30, "the retried job to succeed")
            c.delete(again["id"])
    finally:
        relay.close()
    # then all of it went over one connection
    assert relay.accepted == 1


def test_a_batch_takes_each_item_on_its_own(service):
    with Client(service.url) as c:
        # when a batch holds a good item and one naming no folder, with common options
        result = c.batch([{"source": {"dir": input_folder(service, 2)}}, {"source": {"dir": "nope"}}], codec="mjpg")
        # then the first is queued with them, the second refused with the server's code
        assert (result["accepted"], result["rejected"]) == (1, 1)
        accepted, rejected = result["jobs"]
        assert accepted["job"]["spec"]["codec"] == "mjpg"
        assert (rejected["index"], rejected["error"]["code"], rejected["status"]) == (1, "source_not_found", 400)
        assert c.wait(accepted["id"], timeout=60)["state"] == "succeeded"


def test_an_unknown_job_is_the_servers_404(service):
    with Client(service.url) as c:
        for call in (c.get, c.wait, c.cancel, c.download):
            with pytest.raises(ClientError) as refused:
                call("0123456789abcdef")
            assert (refused.value.code, refused.value.status) == ("job_not_found", 404)


# --- events (GET /api/v1/jobs/<id>/events, GET /api/v1/events) ---------------------------


def test_wait_follows_the_jobs_events(service):
    # given a job just submitted
    with Client(service.url) as c:
        job = c.submit(remote=input_folder(service, 12), codec="mjpg")
        # when waited for
        seen = []
        final = c.wait(job["id"], timeout=60, on_event=seen.append)
    # then it ended succeeded, told by the server's events (each with an id), the last its outcome
    assert final["state"] == "succeeded" and final["result"]["frames"] == 12
    assert seen and all(e.id is not None for e in seen), seen
    assert seen[-1].type == "succeeded" and seen[-1].job == final
    assert {e.type for e in seen} <= set(EVENT_TYPES)


def test_the_events_of_a_finished_job_are_its_outcome_then_the_end(service):
    with Client(service.url) as c:
        job = c.submit(remote=input_folder(service, 3), codec="mjpg")
        final = c.wait(job["id"], timeout=60)
        events = list(c.events(job["id"]))
    assert [e.type for e in events] == ["succeeded"] and events[0].job == final and events[0].id


def test_every_jobs_events_tell_of_a_new_job(service):
    # given a follower of every job's events, and jobs made meanwhile until it has heard
    # of one of them finishing
    folder = input_folder(service, 2)
    made: list[str] = []
    heard = threading.Event()

    def make_jobs() -> None:
        with Client(service.url) as maker:
            while not heard.wait(0.3) and len(made) < 100:
                made.append(maker.submit(remote=folder, codec="mjpg")["id"])
        if not heard.is_set():
            follower.close()  # nothing heard: end the follower's read, failing the test

    with Client(service.url) as follower:
        threading.Thread(target=make_jobs, daemon=True).start()
        try:
            # when it reads on
            for event in follower.events():
                # then one of those jobs' outcome comes
                if event.job["id"] in made and event.type == "succeeded":
                    break
        except (ClientError, RuntimeError):  # closed by make_jobs
            pytest.fail(f"no event of the {len(made)} jobs made came in {len(made) * 0.3:.0f} s")
        finally:
            heard.set()
    assert event.job["state"] == "succeeded" and event.id
