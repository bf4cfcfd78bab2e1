"""Hostile files: links out of the input root, frames padded or followed by garbage,
files changed between submit and encode, and uploads replayed with other bytes. Each
is refused by the name the client knows, never by a server path."""

from __future__ import annotations

import os
import uuid

from servicetools import frames_in, heavy_folder, input_folder, jpeg_bytes, png_bytes, upload


def post(service, spec: dict):
    return service.request("POST", "/api/v1/jobs", spec)


def busy_worker(service) -> str:
    """Start a job that keeps the one worker busy for seconds; returns its id."""
    status, _, job = post(service, {"source": {"dir": heavy_folder(service, 60)}, "codec": "h264"})
    assert status == 202, job
    service.wait_state(job["id"], "running")
    return job["id"]


def test_a_frame_linking_out_of_the_input_root_is_refused_at_submit_by_its_name(hostile, tmp_path):
    # given a folder of frames where one is a link to a file outside the input root
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(7))
    rel = input_folder(hostile.open, 3)
    os.symlink(secret, hostile.inputs / rel / "frame_1b.png")
    # when a job is asked for on it, then 400 naming the link, and nothing queued
    status, _, body = post(hostile.open, {"source": {"dir": rel}})
    assert (status, body["error"]["code"]) == (400, "bad_source"), body
    assert body["error"]["path"] == "frame_1b.png" and "outside the input root" in body["error"]["message"]
    hostile.ledger.note("a frame linking out of the input root")


def test_a_link_inside_the_input_root_is_a_frame_like_any_other(hostile):
    shared = input_folder(hostile.open, 2)
    rel = input_folder(hostile.open, 2)
    os.symlink(hostile.inputs / shared / "frame_0.png", hostile.inputs / rel / "frame_9.png")
    status, _, job = post(hostile.open, {"source": {"dir": rel}, "codec": "mjpg"})
    assert status == 202, job
    assert hostile.open.wait_state(job["id"], "succeeded")["result"]["frames"] == 3


def test_a_link_to_nowhere_is_named_not_skipped(hostile):
    rel = input_folder(hostile.open, 2)
    os.symlink(hostile.inputs / rel / "gone.png", hostile.inputs / rel / "frame_5.png")
    status, _, body = post(hostile.open, {"source": {"dir": rel}})
    assert (status, body["error"]["code"]) == (400, "unreadable_frame") and body["error"]["path"] == "frame_5.png"


def test_files_changed_after_submit_fail_the_job_by_name_when_the_worker_reads_them(hostile, tmp_path):
    # given the worker busy, and three jobs queued behind it on clean folders
    blocker = busy_worker(hostile.open)
    linked, padded, emptied = (input_folder(hostile.open, 3, ext=".jpg") for _ in range(3))
    ids = []
    for rel in (linked, padded, emptied):
        status, _, job = post(hostile.open, {"source": {"dir": rel}})
        assert status == 202, job
        ids.append(job["id"])
    # when, while they wait, a link out of the root appears in one, a frame grows past the
    # byte limit in another, and the third loses all its frames
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg_bytes())
    os.symlink(secret, hostile.inputs / linked / "frame_1b.jpg")
    with open(hostile.inputs / padded / "frame_2.jpg", "ab") as f:
        f.write(bytes(3 * 1024**2))
    for frame in (hostile.inputs / emptied).iterdir():
        frame.unlink()
    hostile.open.request("POST", f"/api/v1/jobs/{blocker}/cancel")
    # then each fails with the file (or the folder) as the client named it
    failed = [hostile.open.wait_state(i, "failed", "succeeded", timeout=90) for i in ids]
    assert [j["state"] for j in failed] == ["failed"] * 3, failed
    assert failed[0]["error"]["code"] == "bad_source" and failed[0]["error"]["path"] == "frame_1b.jpg"
    assert failed[1]["error"]["code"] == "frame_too_large" and failed[1]["error"]["path"] == "frame_2.jpg"
    assert "IMG2VID_MAX_FRAME_BYTES" in failed[1]["error"]["message"]
    assert failed[2]["error"]["code"] == "no_frames" and emptied in failed[2]["error"]["message"]
    for job in failed:
        assert str(hostile.open.data) not in str(job["error"]), job["error"]
    hostile.ledger.note("files changed between submit and encode")


def test_a_frame_padded_past_the_limit_in_a_server_folder_is_refused_at_submit(hostile):
    rel = input_folder(hostile.open, 2, ext=".jpg")
    (hostile.inputs / rel / "frame_1.jpg").write_bytes(jpeg_bytes() + bytes(3 * 1024**2))
    status, _, body = post(hostile.open, {"source": {"dir": rel}})
    assert (status, body["error"]["code"]) == (413, "frame_too_large"), body
    assert body["error"]["path"] == "frame_1.jpg" and "IMG2VID_MAX_FRAME_BYTES" in body["error"]["message"]


def test_a_frame_with_garbage_after_it_is_an_unreadable_frame_by_name(hostile):
    # given frames whose middle one has other data after the end of its JPEG
    rel = f"garbage-{uuid.uuid4().hex[:6]}"
    frames_in(hostile.inputs / rel, 3, ext=".jpg")
    with open(hostile.inputs / rel / "frame_1.jpg", "ab") as f:
        f.write(b"GARBAGE" * 1000)
    status, _, job = post(hostile.open, {"source": {"dir": rel}})
    assert status == 202, job
    # then the job fails naming that frame: unreadable, not an internal error
    done = hostile.open.wait_state(job["id"], "failed", "succeeded")
    assert done["error"]["code"] == "unreadable_frame" and done["error"]["path"] == "frame_1.jpg", done
    hostile.ledger.note("a frame with garbage after it")


def test_a_replay_with_other_bytes_is_refused(hostile):
    key = {"Idempotency-Key": f"replay-{uuid.uuid4().hex}"}
    first = [("frames", "a_0.png", png_bytes(1)), ("frames", "a_1.png", png_bytes(2))]
    # the same names and sizes as the first, other pixels
    other = [("frames", "a_0.png", png_bytes(3)), ("frames", "a_1.png", png_bytes(2))]
    assert len(other[0][2]) == len(first[0][2])
    status, _, job = upload(hostile.open, {"codec": "mjpg"}, first, headers=key)
    assert status == 202, job
    # when the same request comes again, then the first job
    status, headers, again = upload(hostile.open, {"codec": "mjpg"}, first, headers=key)
    assert status == 200 and again["id"] == job["id"] and headers["Idempotent-Replayed"] == "true"
    # when other bytes come with that key, then 422, as for a JSON body that differs
    status, _, body = upload(hostile.open, {"codec": "mjpg"}, other, headers=key)
    assert (status, body["error"]["code"]) == (422, "idempotency_key_reused"), body
    status, _, body = upload(hostile.open, {"codec": "h264"}, first, headers=key)
    assert (status, body["error"]["code"]) == (422, "idempotency_key_reused"), body
    # and a JSON body that means the same job (24 and 24.0) is the same job
    rel = input_folder(hostile.open, 2)
    key = {"Idempotency-Key": f"replay-{uuid.uuid4().hex}"}
    a = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "fps": 24}, headers=key)
    b = hostile.open.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, "fps": 24.0}, headers=key)
    assert (a[0], b[0]) == (202, 200) and a[2]["id"] == b[2]["id"]


def test_frames_larger_than_the_codec_takes_fail_the_job_by_size_not_as_a_crash(hostile):
    # given frames 8,200 pixels wide (mp4v takes at most 8,190), no size asked for
    rel = input_folder(hostile.open, 2, size=(8200, 16))
    status, _, job = post(hostile.open, {"source": {"dir": rel}, "codec": "mp4v"})
    assert status == 202, job
    # then the job fails before encoding, saying what the codec takes
    done = hostile.open.wait_state(job["id"], "failed", "succeeded")
    assert (
        done["error"]["code"] == "bad_size" and "mp4v takes pictures of at most 8190x8190" in done["error"]["message"]
    )
    hostile.ledger.note("frames wider than the codec takes")
    # and a size asked for in the upload form is refused at submit, the same way
    status, _, body = upload(hostile.open, {"codec": "h264", "size": "16384x16384"}, [("frames", "a.png", png_bytes())])
    assert (status, body["error"]["code"]) == (400, "bad_size")
