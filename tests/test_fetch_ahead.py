"""Frames that live in a store: read ahead of the decoder, a bounded number at once,
each checked from its bytes before it is decoded (no header can be read alone)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import cv2
import pytest

from img2vid.engine import encode
from img2vid.engine.options import EncodeOptions
from img2vid.engine.pipeline import prefetched
from img2vid.engine.sources import FrameList
from img2vid.errors import CancelledError, FrameTooLargeError, UnreadableFrameError

from videotools import frame_image, read_back


@dataclass
class Gauge:
    """How many reads run at once, the most ever, and how many in all."""

    now: int = 0
    most: int = 0
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


@dataclass(frozen=True)
class StoredFrame:
    """A frame as a store holds it: bytes behind a slow read, no cheap header."""

    name: str
    data: bytes
    gauge: Gauge
    delay: float = 0.01

    def read(self, max_bytes: int) -> bytes:
        with self.gauge:
            time.sleep(self.delay)  # a GET's round trip
            return self.data

    def size(self) -> int:
        return len(self.data)

    def header(self, max_pixels: int, max_bytes: int) -> None:
        return None


def stored(n: int, gauge: Gauge, size=(64, 48), ext=".png", **kw) -> list[StoredFrame]:
    return [
        StoredFrame(f"frame_{i}{ext}", cv2.imencode(ext, frame_image(i, size))[1].tobytes(), gauge, **kw)
        for i in range(n)
    ]


def test_frames_are_read_ahead_a_bounded_number_at_once(tmp_path):
    # given 40 frames in a store, read 4 at a time ahead of the decoder
    gauge = Gauge()
    frames = FrameList(stored(40, gauge), "the store", fetch_ahead=4)
    # when encoded losslessly
    result = encode(frames, tmp_path / "o.mkv", EncodeOptions.parse(codec="ffv1"), threads=2)
    # then every frame is in the video, in order, each read once (the poster reuses the first)
    assert result.frames == 40 and gauge.total == 40
    assert [round(f.mean() / 5) for f in read_back(tmp_path / "o.mkv")] == [
        round(frame_image(i, (64, 48)).mean() / 5) for i in range(40)
    ]
    # and reads overlapped, but never more than the bound (plus the decode window) at once
    assert 2 <= gauge.most <= 4


def test_a_frame_over_the_pixel_limit_is_refused_from_its_bytes_before_decoding(tmp_path):
    gauge = Gauge()
    frames = stored(10, gauge)
    frames[6] = StoredFrame("frame_6.png", stored(1, gauge, size=(200, 100))[0].data, gauge)
    with pytest.raises(FrameTooLargeError) as exc:
        encode(
            FrameList(frames, "the store", fetch_ahead=3), tmp_path / "o.mp4", EncodeOptions.parse(max_pixels=64 * 48)
        )
    assert "frame_6.png" in exc.value.message and "megapixels" in exc.value.message
    assert not (tmp_path / "o.mp4").exists()


def test_a_damaged_frame_in_the_store_is_named(tmp_path):
    gauge = Gauge()
    frames = stored(8, gauge, ext=".jpg")
    frames[5] = StoredFrame("frame_5.jpg", frames[5].data[:200], gauge)  # cut short
    with pytest.raises(UnreadableFrameError) as exc:
        encode(FrameList(frames, "the store", fetch_ahead=3), tmp_path / "o.mp4", EncodeOptions())
    assert exc.value.message.startswith("frame_5.jpg")


def test_a_cancel_stops_reads_waiting_on_the_store(tmp_path):
    # given frames whose reads hang until the list is stopped (a store that is away)
    gauge, released = Gauge(), threading.Event()

    @dataclass(frozen=True)
    class Hanging(StoredFrame):
        def read(self, max_bytes):
            if self.name != "frame_0.png":
                with self.gauge:
                    released.wait(30)
            return self.data

    frames = [Hanging(f.name, f.data, gauge) for f in stored(6, gauge)]
    started = time.monotonic()
    # when the job is cancelled while they wait
    with pytest.raises(CancelledError):
        encode(
            FrameList(frames, "the store", fetch_ahead=3, on_stop=released.set),
            tmp_path / "o.mp4",
            EncodeOptions(),
            should_cancel=lambda: time.monotonic() - started > 0.5,
        )
    # then the encode ended at once, not when the reads would have timed out
    assert time.monotonic() - started < 5 and released.is_set()


def test_prefetched_keeps_at_most_ahead_reads_beyond_the_consumer():
    lock, state = threading.Lock(), {"started": 0, "consumed": 0, "most_ahead": 0}

    def fetch(i):
        with lock:
            state["started"] += 1
            state["most_ahead"] = max(state["most_ahead"], state["started"] - state["consumed"])
        return i

    for i, future in prefetched(fetch, range(100), ahead=6):
        assert future.result() == i
        with lock:
            state["consumed"] += 1
    assert state["started"] == 100 and state["most_ahead"] <= 6


def test_frames_without_cheap_headers_are_read_once_even_when_not_read_ahead(tmp_path):
    # given store-like frames (no header without a read) listed without reads ahead
    gauge = Gauge()
    frames = FrameList(stored(10, gauge), "the store")
    # when encoded
    assert encode(frames, tmp_path / "o.mkv", EncodeOptions.parse(codec="ffv1")).frames == 10
    # then each was read once: headers are checked from the bytes, not by a read of their own
    assert gauge.total == 10


def test_prefetched_leaves_every_yielded_read_to_finish_when_its_items_run_out():
    # given reads slower than a consumer that takes every future before waiting on any
    def slow(i):
        time.sleep(0.02)
        return i

    futures = [future for _, future in prefetched(slow, range(12), ahead=2)]
    # then none of them was cancelled when the items ran out: each still gives its result
    assert [f.result(timeout=10) for f in futures] == list(range(12))
