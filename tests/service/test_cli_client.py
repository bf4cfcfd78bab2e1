"""`img2vid submit` and `status` as a user runs them: real processes against the real
service (gunicorn, a Celery worker, Redis), their exit codes and their output. `up` has
tests of its own (test_up.py)."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid

import cv2
import numpy as np
import pytest

from img2vid.testing import free_port

from servicetools import img2vid, input_folder, one_error_line
from terminal import run_on_terminal
from videotools import read_back

SUMMARY = re.compile(r"^(\d+) frames, (\d+)x(\d+), ([\d.]+) fps, (\w+), [\d.]+ s, [\d.]+ frames/s -> (.+)$")
JOB_ID = re.compile(r"^[0-9a-f]{16,24}$")


@pytest.fixture
def remote_folder(service):
    """remote_folder(n) -> the name of a fresh folder of n frames under the server's input root."""
    return lambda n: input_folder(service, n)


# --- submit ---------------------------------------------------------------------------


def test_submit_wait_uploads_a_local_folder_and_downloads_the_video(service, make_frames, tmp_path):
    # given 12 local frames
    frames = make_frames(12)
    out = tmp_path / "clip.mp4"
    # when submitted, followed and downloaded (not on a terminal)
    run = img2vid("submit", str(frames), "--server", service.url, "--fps", "12.5", "--wait", "-o", str(out))
    # then stdout holds the job id, then one summary line; stderr stays empty (no bar)
    assert run.returncode == 0, run.stderr
    job_id, summary = run.stdout.splitlines()
    assert JOB_ID.match(job_id)
    m = SUMMARY.match(summary)
    assert m and m.groups() == ("12", "64", "48", "12.5", "mp4v", str(out)), summary
    assert run.stderr == ""
    assert len(read_back(out)) == 12
    job = service.get_job(job_id)
    assert job["state"] == "succeeded" and job["spec"]["fps"] == 12.5


def test_a_terminal_gets_a_progress_bar_while_waiting(service, make_frames, tmp_path):
    # given stderr is a terminal
    proc, out, seen = run_on_terminal(
        [
            sys.executable,
            "-m",
            "img2vid",
            "submit",
            str(make_frames(20)),
            "--server",
            service.url,
            "--wait",
            "-o",
            str(tmp_path / "o.mp4"),
        ],
        timeout=90,
    )
    # then a bar was drawn there, and stdout still holds just the id and the summary
    assert proc.returncode == 0, seen
    assert b"20/20 frames" in seen and b"[###" in seen
    assert out.splitlines()[1].startswith("20 frames")


def test_submit_without_wait_prints_only_the_job_id(service, make_frames):
    run = img2vid("submit", str(make_frames(3)), "--server", service.url, "--codec", "mjpg", "--size", "32x24")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1 and JOB_ID.match(lines[0])
    job = service.wait_state(lines[0], "succeeded", "failed")
    assert job["state"] == "succeeded", job
    assert (job["result"]["codec"], job["result"]["width"], job["result"]["height"]) == ("mjpg", 32, 24)


def test_the_download_takes_the_servers_file_name_by_default(service, make_frames, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    run = img2vid(
        "submit",
        str(make_frames(4)),
        "--server",
        service.url,
        "--name",
        "holiday",
        "--codec",
        "vp8",
        "--wait",
        cwd=here,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1].endswith("-> holiday.webm")
    assert len(read_back(here / "holiday.webm")) == 4


def test_submit_remote_names_a_folder_under_the_input_root(service, remote_folder, tmp_path):
    folder = remote_folder(6)
    out = tmp_path / "remote"  # no extension: gets the codec's
    run = img2vid(
        "submit", "--remote", folder, "--pattern", "frame_[0-3].png", "--server", service.url, "--wait", "-o", str(out)
    )
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.splitlines()[0]
    assert service.get_job(job_id)["spec"]["source"] == {"dir": folder, "pattern": "frame_[0-3].png"}
    assert len(read_back(tmp_path / "remote.mp4")) == 4


def test_the_same_idempotency_key_gives_the_same_job(service, remote_folder):
    folder, key = remote_folder(2), f"cli-{uuid.uuid4().hex}"
    first = img2vid("submit", "--remote", folder, "--server", service.url, "--idempotency-key", key)
    again = img2vid("submit", "--remote", folder, "--server", service.url, "--idempotency-key", key)
    assert first.returncode == again.returncode == 0, (first.stderr, again.stderr)
    assert first.stdout == again.stdout


# --- submit: errors -------------------------------------------------------------------


@pytest.mark.parametrize("remote", [False, True])
def test_a_bad_option_is_one_error_line(service, make_frames, remote_folder, remote):
    source = remote_folder(2) if remote else str(make_frames(2))
    run = img2vid("submit", *(["--remote", source] if remote else [source]), "--server", service.url, "--fps", "0")
    assert "fps" in one_error_line(run, "bad_fps")
    assert run.stdout == ""


def test_the_servers_refusal_is_one_error_line_with_its_code(service):
    run = img2vid("submit", "--remote", "no-such-folder", "--server", service.url)
    assert "no-such-folder" in one_error_line(run, "source_not_found")


def test_an_upload_over_the_servers_limit_is_refused_with_its_code(service, tmp_path):
    # given noise frames (incompressible) adding up to 3x the test server's 8 MB, so that
    # the server answers and closes while the client is still sending
    frames = tmp_path / "big"
    frames.mkdir()
    rng = np.random.default_rng(1)
    for i in range(10):
        cv2.imwrite(str(frames / f"f{i}.png"), rng.integers(0, 256, (1000, 800, 3), np.uint8))
    # then the server's 413 comes through as its code, not as a broken connection
    run = img2vid("submit", str(frames), "--server", service.url)
    assert "8,388,608" in one_error_line(run, "request_too_large")


def test_a_job_that_fails_is_one_error_line_and_exit_1(service, make_frames):
    # given a frame whose header is fine but whose pixels are cut off
    frames = make_frames(4, size=(256, 192))
    data = (frames / "frame_2.png").read_bytes()
    (frames / "frame_2.png").write_bytes(data[: len(data) // 2])
    run = img2vid("submit", str(frames), "--server", service.url, "--wait")
    assert "frame_2.png" in one_error_line(run, "unreadable_frame")
    assert JOB_ID.match(run.stdout.strip())


def test_an_existing_output_is_refused_before_anything_is_sent(service, make_frames, tmp_path):
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"mine")
    run = img2vid("submit", str(make_frames(2)), "--server", service.url, "--wait", "-o", str(out))
    assert str(out) in one_error_line(run, "output_exists")
    assert run.stdout == "" and out.read_bytes() == b"mine"


def test_a_local_folder_without_frames_is_refused(service, tmp_path):
    run = img2vid("submit", str(tmp_path), "--server", service.url)
    one_error_line(run, "no_frames")


@pytest.mark.parametrize("command", ["submit", "status"])
def test_an_unreachable_server_is_one_line_naming_it(command, make_frames):
    url = f"http://127.0.0.1:{free_port()}"
    args = [str(make_frames(1))] if command == "submit" else ["0123456789abcdef"]
    run = img2vid(command, *args, "--server", url)
    assert url in one_error_line(run, "server_unreachable")


def test_the_server_comes_from_img2vid_server(make_frames):
    url = f"http://127.0.0.1:{free_port()}"
    run = img2vid("status", "0123456789abcdef", env={**os.environ, "IMG2VID_SERVER": url})
    assert url in one_error_line(run, "server_unreachable")


# --- status ---------------------------------------------------------------------------


def test_status_of_a_finished_job_as_a_line_and_as_json(service, remote_folder):
    run = img2vid("submit", "--remote", remote_folder(5), "--server", service.url)
    job_id = run.stdout.strip()
    service.wait_state(job_id, "succeeded")

    line = img2vid("status", job_id, "--server", service.url)
    assert line.returncode == 0, line.stderr
    assert line.stdout.count("\n") == 1
    assert line.stdout.startswith(f"{job_id} succeeded: 5/5 frames (100%)")
    assert f"{service.url}/api/v1/jobs/{job_id}/video" in line.stdout

    as_json = img2vid("status", job_id, "--server", service.url, "--json")
    assert as_json.returncode == 0, as_json.stderr
    job = json.loads(as_json.stdout)
    assert job["id"] == job_id and job["state"] == "succeeded" and job["progress"]["frames_done"] == 5


def test_status_of_a_failed_job_shows_its_error(service, make_frames):
    frames = make_frames(3, size=(256, 192))
    (frames / "frame_1.png").write_bytes((frames / "frame_1.png").read_bytes()[:200])
    job_id = img2vid("submit", str(frames), "--server", service.url).stdout.strip()
    service.wait_state(job_id, "failed")
    run = img2vid("status", job_id, "--server", service.url)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{job_id} failed: ") and run.stdout.rstrip().endswith("[unreadable_frame]")


def test_status_of_an_unknown_job_is_the_servers_404(service):
    run = img2vid("status", "0123456789abcdef", "--server", service.url)
    assert "0123456789abcdef" in one_error_line(run, "job_not_found")
