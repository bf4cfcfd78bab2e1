"""The join of a split job's segments (engine/join.py), on real encodes."""

from __future__ import annotations

import cv2
import pytest

from img2vid.engine import encode
from img2vid.engine.codecs import CODECS
from img2vid.engine.discovery import discover
from img2vid.engine.join import join
from img2vid.engine.options import EncodeOptions
from img2vid.engine.split import plan, segment
from img2vid.errors import VerifyFailedError

from videotools import frame_image, read_back


def frames(folder, n, size=(64, 48)):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), frame_image(i, size))
    return folder


def encode_segments(tmp_path, source, codec, split, size=None):
    found = discover(source).frame_list()
    opts = EncodeOptions(codec=codec, fps=12, size=size)
    parts = []
    for i, (a, b) in enumerate(plan(len(found.frames), split)):
        part = tmp_path / f"{i}{CODECS[codec].suffix}"
        encode(segment(found, a, b), part, opts, make_poster=i == 0)
        parts.append(part)
    return parts


def test_plan_cuts_contiguous_segments_within_one_frame_of_each_other():
    assert plan(10, 0) == [(0, 10)] and plan(10, 10) == [(0, 10)]
    spans = plan(1501, 500)
    assert len(spans) == 4 and spans[0][0] == 0 and spans[-1][1] == 1501
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert max(b - a for a, b in spans) - min(b - a for a, b in spans) <= 1


@pytest.mark.parametrize("codec", list(CODECS))
def test_segments_join_into_one_video_in_order(tmp_path, codec):
    parts = encode_segments(tmp_path, frames(tmp_path / "in", 25), codec, 10)
    out = tmp_path / f"whole{CODECS[codec].suffix}"
    result = join(parts, out, codec, 12, poster_from=parts[0].with_name("0.poster.jpg"))
    assert result.frames == 25 and out.exists() and result.poster.exists()
    # the brightness of each frame says its index: the order is the frames' order
    assert [round(f.mean() / 10) for f in read_back(out)] == list(range(25))


def test_segments_of_another_size_are_refused_and_nothing_is_left(tmp_path):
    source = frames(tmp_path / "in", 10)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = encode_segments(tmp_path / "a", source, "mp4v", 10)
    other = encode_segments(tmp_path / "b", source, "mp4v", 10, size=(32, 24))
    out = tmp_path / "whole.mp4"
    with pytest.raises(VerifyFailedError, match="segment 2"):
        join(first + other, out, "mp4v", 12, poster_from=first[0].with_name("0.poster.jpg"))
    assert not out.exists() and not list(tmp_path.glob(".whole*"))


def test_a_segment_that_is_not_a_video_fails_the_join_clearly(tmp_path):
    parts = encode_segments(tmp_path, frames(tmp_path / "in", 20), "mp4v", 10)
    parts[1].write_bytes(b"not a video at all")
    out = tmp_path / "whole.mp4"
    with pytest.raises(VerifyFailedError, match="could not be joined"):
        join(parts, out, "mp4v", 12, poster_from=parts[0].with_name("0.poster.jpg"))
    assert not out.exists()
