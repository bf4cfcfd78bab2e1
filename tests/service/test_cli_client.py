"""The server's commands (`submit`, `status`, `list`, `wait`, `cancel`, `retry`, `delete`,
`download`) as a user runs them: real processes against the real service (gunicorn, a
Celery worker, Redis), their exit codes and their output. `up` has tests of its own
(test_up.py); the Python API, test_client_api.py."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import uuid

import cv2
import numpy as np
import pytest

from img2vid.testing import free_port

from servicetools import heavy_folder, img2vid, input_folder
from terminal import run_on_terminal
from videotools import read_back

SUMMARY = re.compile(r"^(\d+) frames, (\d+)x(\d+), ([\d.]+) fps, (\w+), [\d.]+ s, [\d.]+ frames/s -> (.+)$")
JOB_ID = re.compile(r"^[0-9a-f]{16,24}$")
UNKNOWN = "0123456789abcdef"
# The exit statuses (img2vid --help).
JOB_FAILED, USAGE, UNREACHABLE, TIMED_OUT = 1, 2, 3, 4


def error_line(run: subprocess.CompletedProcess, code: str, status: int) -> str:
    """The one line a failed command printed; asserts its exit status and the code it ends with."""
    assert run.returncode == status, (run.returncode, run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("img2vid: error: ") and lines[0].endswith(f"[{code}]"), lines[0]
    return lines[0]


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
    assert "fps" in error_line(run, "bad_fps", USAGE)
    assert run.stdout == ""


def test_the_servers_refusal_is_one_error_line_with_its_code(service):
    run = img2vid("submit", "--remote", "no-such-folder", "--server", service.url)
    assert "no-such-folder" in error_line(run, "source_not_found", USAGE)


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
    assert "8,388,608" in error_line(run, "request_too_large", USAGE)


def test_a_job_that_fails_is_one_error_line_and_exit_1(service, make_frames):
    # given a frame whose header is fine but whose pixels are cut off
    frames = make_frames(4, size=(256, 192))
    data = (frames / "frame_2.png").read_bytes()
    (frames / "frame_2.png").write_bytes(data[: len(data) // 2])
    run = img2vid("submit", str(frames), "--server", service.url, "--wait")
    assert "frame_2.png" in error_line(run, "unreadable_frame", JOB_FAILED)
    assert JOB_ID.match(run.stdout.strip())


def test_an_existing_output_is_refused_before_anything_is_sent(service, make_frames, tmp_path):
    out = tmp_path / "taken.mp4"
    out.write_bytes(b"mine")
    run = img2vid("submit", str(make_frames(2)), "--server", service.url, "--wait", "-o", str(out))
    assert str(out) in error_line(run, "output_exists", USAGE)
    assert run.stdout == "" and out.read_bytes() == b"mine"


def test_a_local_folder_without_frames_is_refused(service, tmp_path):
    run = img2vid("submit", str(tmp_path), "--server", service.url)
    error_line(run, "no_frames", USAGE)


@pytest.mark.parametrize("command", ["submit", "status", "list", "wait", "cancel", "retry", "delete", "download"])
def test_an_unreachable_server_is_one_line_naming_it_and_exit_3(command, make_frames):
    # given a port where nothing listens
    url = f"http://127.0.0.1:{free_port()}"
    args = {"submit": [str(make_frames(1))], "list": []}.get(command, [UNKNOWN])
    run = img2vid(command, *args, "--server", url)
    assert url in error_line(run, "server_unreachable", UNREACHABLE)


def test_the_server_comes_from_img2vid_server(make_frames):
    url = f"http://127.0.0.1:{free_port()}"
    run = img2vid("status", "0123456789abcdef", env={**os.environ, "IMG2VID_SERVER": url})
    assert url in error_line(run, "server_unreachable", UNREACHABLE)


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
    assert "0123456789abcdef" in error_line(run, "job_not_found", USAGE)


# --- the jobs the tests below share -------------------------------------------------------


def submitted(service, rel: str, **spec) -> str:
    status, _, job = service.request("POST", "/api/v1/jobs", {"source": {"dir": rel}, **spec})
    assert status == 202, job
    return job["id"]


@pytest.fixture(scope="module")
def done_job(service) -> str:
    """A succeeded job: 6 frames, mjpg."""
    job_id = submitted(service, input_folder(service, 6), codec="mjpg")
    service.wait_state(job_id, "succeeded")
    return job_id


@pytest.fixture(scope="module")
def failed_job(service) -> str:
    """A failed job: its third frame's pixels are cut off."""
    rel = input_folder(service, 4, size=(256, 192))
    frame = service.inputs / rel / "frame_2.png"
    frame.write_bytes(frame.read_bytes()[:200])
    job_id = submitted(service, rel)
    service.wait_state(job_id, "failed")
    return job_id


# --- list -------------------------------------------------------------------------------


def test_list_shows_the_newest_jobs_as_a_table_and_as_json(service):
    # given two new jobs, both finished
    ids = [submitted(service, input_folder(service, 3), codec="mjpg") for _ in range(2)]
    for job_id in ids:
        service.wait_state(job_id, "succeeded")
    # when the newest two are listed
    run = img2vid("list", "--limit", "2", "--server", service.url)
    # then a table: a header, those two newest first, and a line saying there are more
    assert run.returncode == 0, run.stderr
    header, first, second, more = run.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "CODEC", "FRAMES", "CREATED"]
    assert [first.split()[0], second.split()[0]] == ids[::-1]
    assert first.split()[1:4] == ["succeeded", "mjpg", "3"]
    assert re.match(r"^\(2 of \d+ jobs; --offset 2 for more\)$", more), more
    # and as JSON, the API's page, filtered by state
    run = img2vid("list", "--limit", "2", "--state", "succeeded", "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    page = json.loads(run.stdout)
    assert [j["id"] for j in page["jobs"]] == ids[::-1] and page["total"] >= 2 and page["limit"] == 2


def test_bad_usage_is_exit_2(service):
    # argparse's own refusal: its usage text
    run = img2vid("list", "--limit", "many", "--server", service.url)
    assert run.returncode == USAGE and "usage: img2vid list" in run.stderr
    run = img2vid("wait", "--server", service.url)
    assert run.returncode == USAGE and "JOB_ID" in run.stderr
    # the server's refusal of an option: one line with its code
    run = img2vid("list", "--limit", "0", "--server", service.url)
    assert "limit" in error_line(run, "invalid_option", USAGE)


# --- wait -------------------------------------------------------------------------------


def test_wait_follows_a_job_to_its_end(service):
    # given a job just submitted
    job_id = submitted(service, input_folder(service, 10), codec="mjpg")
    # when waited for, then its line once it has succeeded
    run = img2vid("wait", job_id, "--server", service.url)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"{job_id} succeeded: 10/10 frames (100%)") and run.stdout.count("\n") == 1
    # and with --json, its JSON
    run = img2vid("wait", job_id, "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["id"] == job_id and job["state"] == "succeeded" and job["result"]["frames"] == 10


def test_wait_for_a_failed_job_is_exit_1_with_its_error(service, failed_job):
    run = img2vid("wait", failed_job, "--server", service.url)
    assert "frame_2.png" in error_line(run, "unreadable_frame", JOB_FAILED)
    # with --json the job's JSON still comes out, and the exit says it failed
    run = img2vid("wait", failed_job, "--json", "--server", service.url)
    error_line(run, "unreadable_frame", JOB_FAILED)
    assert json.loads(run.stdout)["state"] == "failed"


@pytest.mark.parametrize("command", ["wait", "cancel", "retry", "delete", "download"])
def test_an_unknown_job_is_exit_2(service, command):
    run = img2vid(command, UNKNOWN, "--server", service.url)
    assert UNKNOWN in error_line(run, "job_not_found", USAGE)


def test_a_long_job_outwaited_then_cancelled(service):
    # given a job that takes seconds (60 frames of 1080p in h264)
    job_id = submitted(service, heavy_folder(service), codec="h264")
    # when waited for half a second: exit 4, and the job goes on
    run = img2vid("wait", job_id, "--timeout", "0.5", "--server", service.url)
    assert f"img2vid wait {job_id}" in error_line(run, "wait_timeout", TIMED_OUT)
    # when cancelled: the job's JSON with --json
    run = img2vid("cancel", job_id, "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["id"] == job_id and job["state"] in ("running", "cancelled")
    # then waiting for it is exit 1 (cancelled), and so is downloading it
    error_line(img2vid("wait", job_id, "--server", service.url), "cancelled", JOB_FAILED)
    error_line(img2vid("download", job_id, "--server", service.url), "cancelled", JOB_FAILED)
    # and cancelling it again is the server's 409
    assert "cancelled" in error_line(img2vid("cancel", job_id, "--server", service.url), "job_state", USAGE)


# --- retry, delete ----------------------------------------------------------------------------


def test_retry_prints_the_new_job_and_delete_removes_it(service, done_job):
    # when a finished job is retried: the new job's id, a job of the same spec
    run = img2vid("retry", done_job, "--server", service.url)
    assert run.returncode == 0, run.stderr
    new_id = run.stdout.strip()
    assert JOB_ID.match(new_id) and new_id != done_job
    assert service.wait_state(new_id, "succeeded")["spec"] == service.get_job(done_job)["spec"]
    # and with --json, the new job's JSON
    run = img2vid("retry", new_id, "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    newer = json.loads(run.stdout)
    assert newer["state"] == "queued" and newer["id"] not in (done_job, new_id)
    service.wait_state(newer["id"], "succeeded")
    # when deleted: gone, and deleting it again is the server's 404
    run = img2vid("delete", new_id, "--server", service.url)
    assert run.returncode == 0 and run.stdout == f"{new_id} deleted\n", run.stderr
    error_line(img2vid("status", new_id, "--server", service.url), "job_not_found", USAGE)
    error_line(img2vid("delete", new_id, "--server", service.url), "job_not_found", USAGE)


# --- download ---------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_download_writes_a_file_as_the_users_umask_says(service, done_job, tmp_path, umask, mode):
    # given a user whose umask is `umask`, and an output named without an extension
    out = tmp_path / "clip"
    run = subprocess.run(
        [sys.executable, "-m", "img2vid", "download", done_job, "-o", str(out), "--server", service.url],
        capture_output=True,
        text=True,
        timeout=60,
        umask=umask,
    )
    # then the video is there with the codec's extension, its mode as the umask says
    assert run.returncode == 0, run.stderr
    video = tmp_path / "clip.avi"
    assert run.stdout == f"6 frames, 64x48, 5 fps, mjpg, {video.stat().st_size:,} bytes -> {video}\n"
    assert stat.S_IMODE(video.stat().st_mode) == mode
    assert len(read_back(video)) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]  # no temporary file left


def test_download_never_replaces_a_file(service, done_job, tmp_path):
    # given a file where the video would go
    taken = tmp_path / "mine.avi"
    taken.write_bytes(b"mine")
    run = img2vid("download", done_job, "-o", str(taken), "--server", service.url)
    assert str(taken) in error_line(run, "output_exists", USAGE)
    assert taken.read_bytes() == b"mine" and sorted(p.name for p in tmp_path.iterdir()) == ["mine.avi"]


def test_download_into_a_folder_takes_the_servers_name_and_json_names_the_file(service, done_job, tmp_path):
    run = img2vid("download", done_job, "-o", str(tmp_path), "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["id"] == done_job and job["state"] == "succeeded"
    assert job["file"] == str(tmp_path / f"{done_job}.avi") and len(read_back(tmp_path / f"{done_job}.avi")) == 6


def test_download_of_a_failed_job_is_exit_1(service, failed_job, tmp_path):
    run = img2vid("download", failed_job, "--server", service.url, cwd=tmp_path)
    error_line(run, "unreadable_frame", JOB_FAILED)
    assert list(tmp_path.iterdir()) == []


# --- --json on submit -------------------------------------------------------------------


def test_submit_json_prints_the_job_and_with_wait_the_finished_one(service, make_frames, remote_folder, tmp_path):
    # without --wait: the new job's JSON
    run = img2vid("submit", "--remote", remote_folder(2), "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert JOB_ID.match(job["id"]) and job["state"] == "queued"
    # with --wait: one JSON document, the finished job with the file it was saved to
    out = tmp_path / "w.mp4"
    run = img2vid("submit", str(make_frames(4)), "--wait", "-o", str(out), "--json", "--server", service.url)
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["state"] == "succeeded" and job["file"] == str(out) and len(read_back(out)) == 4
