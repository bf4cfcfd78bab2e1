"""The engine end to end on small frames, read back with OpenCV and ffprobe."""

from __future__ import annotations

import time
from itertools import pairwise

import cv2
import numpy as np
import pytest

import img2vid.engine.encoding as encode_module
from img2vid.engine import discover, encode
from img2vid.engine.codecs import CODECS
from img2vid.engine.options import EncodeOptions
from img2vid.engine.sources import FileFrame
from img2vid.errors import (
    BadOutputNameError,
    CancelledError,
    FrameTooLargeError,
    OutputExistsError,
    OutputUnwritableError,
    UnreadableFrameError,
    VerifyFailedError,
)

from videotools import needs_ffprobe, probe_stream, read_back

FFPROBE_CODEC = {"mp4v": "mpeg4", "h264": "h264", "vp8": "vp8", "vp9": "vp9", "mjpg": "mjpeg", "ffv1": "ffv1"}


def ffprobe(path) -> dict:
    return probe_stream(path, "codec_name", "pix_fmt", "nb_read_frames", "width", "height", "avg_frame_rate", "profile")


def opts(**kw) -> EncodeOptions:
    return EncodeOptions.parse(**kw)


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_codec_writes_a_whole_video_and_a_poster(make_frames, out_dir, codec):
    # given 12 frames of 64x48
    frames = make_frames(12)
    target = out_dir / f"clip{CODECS[codec].suffix}"
    # when encoded
    result = encode(frames, target, opts(codec=codec, fps=7.5))
    # then the video holds every frame at the frames' size, and a poster sits beside it
    assert (result.frames, result.width, result.height, result.codec) == (12, 64, 48, codec)
    assert result.bytes == target.stat().st_size > 0
    back = read_back(target)
    assert len(back) == 12 and back[0].shape == (48, 64, 3)
    poster = cv2.imread(str(result.poster))
    assert result.poster == out_dir / "clip.poster.jpg" and poster.shape == (48, 64, 3)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([target.name, "clip.poster.jpg"])


@needs_ffprobe
@pytest.mark.parametrize("codec", list(CODECS))
def test_ffprobe_agrees_on_codec_pixel_format_and_frame_count(make_frames, out_dir, codec):
    target = out_dir / f"clip{CODECS[codec].suffix}"
    encode(make_frames(12), target, opts(codec=codec, fps=7.5))
    info = ffprobe(target)
    assert info["codec_name"] == FFPROBE_CODEC[codec]
    assert int(info["nb_read_frames"]) == 12
    if codec in ("mp4v", "h264", "vp8", "vp9"):
        assert info["pix_fmt"] == "yuv420p"  # what browsers and players expect
    if codec == "h264":
        assert info["profile"] == "High"


@needs_ffprobe
def test_fractional_fps_is_not_truncated(make_frames, out_dir):
    target = out_dir / "c.mp4"
    encode(make_frames(30), target, opts(codec="h264", fps=29.97))
    num, den = map(int, ffprobe(target)["avg_frame_rate"].split("/"))
    assert num / den == pytest.approx(29.97, abs=0.01)


def test_frames_come_out_in_natural_order(make_frames, out_dir):
    # given f0 … f11 whose brightness is 10 × their number, written in lossless FFV1
    frames = make_frames(12, name="f{i}")
    target = out_dir / "o.mkv"
    encode(frames, target, opts(codec="ffv1"))
    # then f2 comes before f10
    assert [int(f.mean()) for f in read_back(target)] == [i * 10 for i in range(12)]


def test_frames_of_mixed_sizes_all_reach_the_video(tmp_path, out_dir):
    # given frames of four different sizes; OpenCV's writer alone would drop all but the first size
    d = tmp_path / "mixed"
    d.mkdir()
    for i, (w, h) in enumerate([(64, 48), (32, 32), (100, 20), (48, 64), (64, 48)]):
        cv2.imwrite(str(d / f"m{i}.png"), np.full((h, w, 3), 255, np.uint8))
    target = out_dir / "o.mkv"
    # when encoded with contain
    result = encode(d, target, opts(codec="ffv1", fit="contain"))
    # then every one is in the video at the first frame's size, letterboxed on black
    back = read_back(target)
    assert result.frames == len(back) == 5
    assert all(f.shape == (48, 64, 3) for f in back)
    square = back[1]  # 32x32 scaled to 48x48, centred: 8-pixel bars left and right
    assert (square[:, :8] == 0).all() and (square[:, 56:] == 0).all() and (square[:, 8:56] == 255).all()


def test_an_odd_size_is_made_even_for_yuv420_codecs(make_frames, out_dir):
    result = encode(make_frames(3, size=(65, 49)), out_dir / "o.mp4", opts(codec="h264"))
    assert (result.width, result.height) == (64, 48)
    assert read_back(out_dir / "o.mp4")[0].shape == (48, 64, 3)


def test_lossless_ffv1_keeps_an_odd_size(make_frames, out_dir):
    result = encode(make_frames(3, size=(65, 49)), out_dir / "o.mkv", opts(codec="ffv1"))
    assert (result.width, result.height) == (65, 49)


def test_the_size_option_sets_the_output_size(make_frames, out_dir):
    result = encode(make_frames(3), out_dir / "o.mp4", opts(size="32x24"))
    assert read_back(result.video)[0].shape == (24, 32, 3)


def test_progress_is_reported_up_to_the_total(make_frames, out_dir):
    seen = []
    encode(make_frames(20), out_dir / "o.mp4", opts(), progress=lambda d, t: seen.append((d, t)), interval=0)
    assert seen[-1] == (20, 20)
    assert all(t == 20 for _, t in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done)


def test_progress_and_cancel_checks_keep_coming_while_a_frame_is_slow(make_frames, out_dir, monkeypatch):
    # given a frame that takes 1.2 s to read (as an object in a slow store might)
    frames = discover(make_frames(6)).frame_list()

    class SlowFrame(FileFrame):
        def read(self, max_bytes):
            time.sleep(1.2)
            return super().read(max_bytes)

    frames.frames[3] = SlowFrame(frames.frames[3].path)
    progress_at, cancel_at = [], []
    # when encoded with the default interval
    encode(
        frames,
        out_dir / "o.mp4",
        opts(),
        threads=1,
        progress=lambda d, t: progress_at.append(time.monotonic()),
        should_cancel=lambda: cancel_at.append(time.monotonic()) or False,
    )
    # then both callbacks were called at least every half second throughout
    for stamps in (progress_at, cancel_at):
        gaps = [b - a for a, b in pairwise(stamps)]
        assert len(stamps) >= 5 and max(gaps) < 0.5


def test_cancel_stops_the_encode_and_leaves_nothing(make_frames, out_dir):
    calls = []

    def cancel_after_some():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CancelledError) as exc:
        encode(make_frames(40), out_dir / "o.mp4", opts(), should_cancel=cancel_after_some, interval=0)
    assert exc.value.code == "cancelled"
    assert list(out_dir.iterdir()) == []


def truncate_jpeg(path):
    path.write_bytes(path.read_bytes()[:-100])


def test_an_unreadable_frame_fails_naming_it_and_leaves_nothing(make_frames, out_dir):
    # given a truncated JPEG in the middle (its header is fine; decoding finds it)
    frames = make_frames(10, size=(64, 64), ext=".jpg")
    truncate_jpeg(frames / "frame_6.jpg")
    with pytest.raises(UnreadableFrameError) as exc:
        encode(frames, out_dir / "o.mp4", opts())
    assert "frame_6.jpg" in exc.value.message
    # then neither a partial video, a poster nor a temporary file is left
    assert list(out_dir.iterdir()) == []


def test_skip_bad_frames_skips_and_counts_them(make_frames, out_dir):
    frames = make_frames(10, size=(64, 64), ext=".jpg")
    truncate_jpeg(frames / "frame_6.jpg")  # found while decoding
    (frames / "frame_8.jpg").write_bytes(b"not a jpeg at all")  # found at the header
    result = encode(frames, out_dir / "o.mp4", opts(skip_bad_frames=True))
    assert result.frames == 8 and len(read_back(result.video)) == 8
    assert sorted(result.bad_frames) == ["frame_6.jpg", "frame_8.jpg"]


def test_a_frame_over_the_pixel_limit_is_refused_even_when_skipping(make_frames, out_dir):
    frames = make_frames(4)
    cv2.imwrite(str(frames / "frame_2.png"), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(FrameTooLargeError, match="frame_2.png"):
        encode(frames, out_dir / "o.mp4", opts(max_pixels=64 * 48, skip_bad_frames=True))
    assert list(out_dir.iterdir()) == []


def test_a_missing_output_folder_is_refused(make_frames, tmp_path):
    with pytest.raises(OutputUnwritableError, match="does not exist"):
        encode(make_frames(2), tmp_path / "nope" / "o.mp4", opts())


def test_an_unwritable_output_folder_is_refused(make_frames):
    # /proc refuses new files even to root, for whom permission bits mean nothing
    with pytest.raises(OutputUnwritableError) as exc:
        encode(make_frames(2), "/proc/o.mp4", opts())
    assert exc.value.code == "output_unwritable"


def test_an_existing_output_is_not_overwritten(make_frames, out_dir):
    target = out_dir / "o.mp4"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        encode(make_frames(2), target, opts())
    assert target.read_bytes() == b"precious"
    assert [p.name for p in out_dir.iterdir()] == ["o.mp4"]


def test_an_existing_poster_is_not_overwritten_either(make_frames, out_dir):
    (out_dir / "o.poster.jpg").write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        encode(make_frames(2), out_dir / "o.mp4", opts())
    assert (out_dir / "o.poster.jpg").read_bytes() == b"precious"


def test_overwrite_replaces_video_and_poster(make_frames, out_dir):
    target = out_dir / "o.mp4"
    target.write_bytes(b"old")
    result = encode(make_frames(3), target, opts(), overwrite=True)
    assert len(read_back(target)) == 3 and result.poster.exists()


def test_a_failed_verification_leaves_nothing(make_frames, out_dir, monkeypatch):
    # given a read-back that finds one frame fewer than were written
    real_probe = encode_module.probe_video
    monkeypatch.setattr(encode_module, "probe_video", lambda p: (real_probe(p)[0] - 1, *real_probe(p)[1:]))
    with pytest.raises(VerifyFailedError, match="holds 2 frames"):
        encode(make_frames(3), out_dir / "o.mp4", opts())
    assert list(out_dir.iterdir()) == []


def test_an_output_suffix_that_does_not_suit_the_codec_is_refused(make_frames, out_dir):
    with pytest.raises(BadOutputNameError):
        encode(make_frames(2), out_dir / "o.avi", opts(codec="vp9"))


def top_level_boxes(path) -> list[str]:
    boxes, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        if size < 8:
            break
        pos += size
    return boxes


def test_h264_mp4_puts_the_index_first_so_browsers_can_start_playing(make_frames, out_dir):
    target = out_dir / "web.mp4"
    encode(make_frames(5), target, opts(codec="h264"))
    boxes = top_level_boxes(target)
    assert boxes.index("moov") < boxes.index("mdat")


def test_a_cancel_that_comes_after_the_video_is_in_place_does_not_fail_it(make_frames, out_dir):
    # given a cancel check that says yes once every frame has been written
    seen = {"done": 0}
    result = encode(
        make_frames(5),
        out_dir / "o.mp4",
        opts(),
        interval=0,
        progress=lambda d, t: seen.update(done=d),
        should_cancel=lambda: seen["done"] >= 5,
    )
    # then the finished video stands
    assert result.frames == 5 and result.video.exists()
