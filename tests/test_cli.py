"""`img2vid encode` as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from terminal import run_on_terminal
from videotools import read_back

SUMMARY = re.compile(r"^(\d+) frames, (\d+)x(\d+), ([\d.]+) fps, (\w+), [\d.]+ s, [\d.]+ frames/s -> (.+)$")


def img2vid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "img2vid", *args], capture_output=True, text=True, timeout=60)


def test_encode_prints_one_summary_line(make_frames, out_dir):
    # given 12 frames
    frames = make_frames(12)
    # when encoded from the command line (not a terminal)
    run = img2vid("encode", str(frames), str(out_dir / "clip.mp4"), "--fps", "12.5")
    # then it exits 0, prints exactly one summary line and no progress bar
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1
    m = SUMMARY.match(lines[0])
    assert m and m.groups() == ("12", "64", "48", "12.5", "mp4v", str(out_dir / "clip.mp4"))
    assert run.stderr == ""
    assert len(read_back(out_dir / "clip.mp4")) == 12


def test_the_extension_picks_the_codec_when_none_is_named(make_frames, out_dir):
    run = img2vid("encode", str(make_frames(3)), str(out_dir / "clip.webm"))
    assert run.returncode == 0, run.stderr
    assert ", vp8, " in run.stdout


def test_a_bare_output_name_gets_the_codecs_extension(make_frames, out_dir):
    run = img2vid("encode", str(make_frames(3)), str(out_dir / "clip"), "--codec", "h264")
    assert run.returncode == 0, run.stderr
    assert (out_dir / "clip.mp4").exists()


def test_a_glob_source_and_a_pattern(make_frames, out_dir):
    frames = make_frames(6)
    run = img2vid("encode", str(frames / "frame_[0-2].png"), str(out_dir / "a.mp4"))
    assert run.stdout.startswith("3 frames"), run.stderr
    run = img2vid("encode", str(frames), str(out_dir / "b.mp4"), "--pattern", "frame_[3-5].png")
    assert run.stdout.startswith("3 frames"), run.stderr


def test_skipped_files_are_reported(make_frames, out_dir):
    frames = make_frames(4, ext=".jpg")
    (frames / "frame_2.jpg").write_bytes(b"garbage")
    (frames / "notes.txt").write_text("hello")
    run = img2vid("encode", str(frames), str(out_dir / "o.mp4"), "--skip-bad-frames")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("3 frames")
    assert "1 unreadable frames skipped" in run.stdout and "1 other files ignored" in run.stdout


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["--fps", "0"], "bad_fps", "fps must be from 0.01 to 240"),
        (["--fps", "nan"], "bad_fps", "fps"),
        (["--fps", "241"], "bad_fps", "from 0.01 to 240"),
        (["--codec", "divx"], "unknown_codec", "mp4v, h264, vp9, vp8, mjpg, ffv1"),
        (["--size", "big"], "bad_size", "1920x1080"),
        (["--fit", "zoom"], "bad_fit", "contain, cover, stretch"),
    ],
)
def test_bad_options_exit_non_zero_with_one_line(make_frames, out_dir, args, code, words):
    run = img2vid("encode", str(make_frames(2)), str(out_dir / "o.mp4"), *args)
    assert run.returncode == 1
    assert run.stdout == ""
    assert len(run.stderr.splitlines()) == 1
    assert f"[{code}]" in run.stderr and words in run.stderr
    assert list(out_dir.iterdir()) == []


def test_an_unreadable_frame_is_named_in_the_error(make_frames, out_dir):
    frames = make_frames(5, ext=".jpg")
    (frames / "frame_3.jpg").write_bytes((frames / "frame_3.jpg").read_bytes()[:-50])
    run = img2vid("encode", str(frames), str(out_dir / "o.mp4"))
    assert run.returncode == 1
    assert run.stderr.strip().startswith("img2vid: error: frame_3.jpg: truncated JPEG")
    assert list(out_dir.iterdir()) == []


def test_an_empty_folder_is_named_in_the_error(tmp_path, out_dir):
    (tmp_path / "empty").mkdir()
    run = img2vid("encode", str(tmp_path / "empty"), str(out_dir / "o.mp4"))
    assert run.returncode == 1 and "[no_frames]" in run.stderr and str(tmp_path / "empty") in run.stderr


def test_a_missing_argument_is_a_usage_error(make_frames):
    run = img2vid("encode", str(make_frames(1)))
    assert run.returncode == 2 and "OUTPUT" in run.stderr


def test_a_terminal_gets_a_progress_bar(make_frames, out_dir):
    # given stderr is a terminal
    frames = make_frames(30)
    proc, out, seen = run_on_terminal(
        [sys.executable, "-m", "img2vid", "encode", str(frames), str(out_dir / "o.mp4")],
        timeout=60,
    )
    # then a bar was drawn there, and stdout still holds just the summary
    assert proc.returncode == 0
    assert b"30/30 frames" in seen and b"[###" in seen
    assert out.startswith("30 frames")


def test_an_existing_output_is_kept_and_the_way_to_replace_it_is_named(make_frames, out_dir):
    (out_dir / "o.mp4").write_bytes(b"mine")
    run = img2vid("encode", str(make_frames(2)), str(out_dir / "o.mp4"))
    assert run.returncode == 1 and "--overwrite" in run.stderr and "[output_exists]" in run.stderr
    assert (out_dir / "o.mp4").read_bytes() == b"mine"
