from pathlib import Path

import pytest

from img2vid.engine.discovery import discover, natural_key
from img2vid.errors import NoFramesError


def touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")
    return folder


def test_natural_order_puts_f2_before_f10(tmp_path):
    # given frames numbered without zero padding
    d = touch(tmp_path / "f", "f10.png", "f2.png", "f1.png", "f100.png", "f20.png")
    # when discovered
    found = discover(d)
    # then they come in numeric order, not lexicographic
    assert [p.name for p in found.frames] == ["f1.png", "f2.png", "f10.png", "f20.png", "f100.png"]


def test_natural_key_ignores_case_and_handles_multiple_numbers():
    names = ["Shot2_f10.jpg", "shot2_f9.jpg", "shot10_f1.jpg", "SHOT2_f100.jpg"]
    assert sorted(names, key=natural_key) == ["shot2_f9.jpg", "Shot2_f10.jpg", "SHOT2_f100.jpg", "shot10_f1.jpg"]


def test_every_image_suffix_in_any_case_is_a_frame(tmp_path):
    names = ["a1.jpg", "a2.JPEG", "a3.Png", "a4.bmp", "a5.TIF", "a6.tiff", "a7.WebP"]
    d = touch(tmp_path / "f", *names)
    assert [p.name for p in discover(d).frames] == names


def test_other_files_are_skipped_and_counted(tmp_path):
    d = touch(tmp_path / "f", "a1.jpg", "notes.txt", "clip.mp4", "._a1.jpg", ".DS_Store", "a2.png")
    (d / "sub").mkdir()
    found = discover(d)
    assert [p.name for p in found.frames] == ["a1.jpg", "a2.png"]
    # dot files (macOS resource forks) are not frames either; folders are not counted
    assert sorted(p.name for p in found.skipped) == sorted(["notes.txt", "clip.mp4", "._a1.jpg", ".DS_Store"])


def test_pattern_filters_names_inside_a_folder(tmp_path):
    d = touch(tmp_path / "f", "cam1_1.jpg", "cam2_1.jpg", "cam1_2.jpg")
    assert [p.name for p in discover(d, "cam1_*").frames] == ["cam1_1.jpg", "cam1_2.jpg"]


def test_a_glob_source(tmp_path):
    d = touch(tmp_path / "f", "x3.png", "x1.png", "y1.png")
    assert [p.name for p in discover(str(d / "x*.png")).frames] == ["x1.png", "x3.png"]


def test_no_frames_names_the_folder_and_pattern(tmp_path):
    d = touch(tmp_path / "shots", "a.png", "readme.txt")
    with pytest.raises(NoFramesError) as exc:
        discover(d, "*.jpg")
    assert exc.value.code == "no_frames"
    assert str(d) in exc.value.message and "'*.jpg'" in exc.value.message


def test_no_frames_counts_the_other_files(tmp_path):
    d = touch(tmp_path / "docs", "readme.txt", "notes.md")
    with pytest.raises(NoFramesError, match="2 other files skipped"):
        discover(d)


def test_a_missing_source_is_no_frames(tmp_path):
    with pytest.raises(NoFramesError, match="not a folder or a glob"):
        discover(tmp_path / "nope")
