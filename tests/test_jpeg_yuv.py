"""JPEG frames go straight to YUV 4:2:0 (libavcodec's decoder) when they can, and through
OpenCV's BGR when they cannot; either way the video holds the same pictures."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

import img2vid.engine.encoding as encode_module
from img2vid.engine import encode
from img2vid.engine.jpegyuv import decode_yuv420
from img2vid.engine.options import EncodeOptions

from videotools import needs_ffprobe, probe_stream

# (R, G, B) and their BT.601 limited-range (Y, Cb, Cr), what a yuv420p player assumes.
KNOWN = {
    "black": ((0, 0, 0), (16, 128, 128)),
    "white": ((255, 255, 255), (235, 128, 128)),
    "red": ((255, 0, 0), (81, 90, 240)),
}


def scene(i: int, size: tuple[int, int]) -> np.ndarray:
    """RGB with gradients, colour and an index stripe, so that order and colour both show."""
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:, :, 0] = x
    rgb[:, :, 1] = y
    rgb[:, :, 2] = 255 - (x + y) / 2
    rgb[: h // 4, : w // 4] = (i * 25) % 256
    return rgb.astype(np.uint8)


def save(folder: Path, n: int, size=(64, 48), mode: str | None = None, **pillow) -> Path:
    """``n`` JPEG frames written by Pillow (``mode``: convert first, e.g. CMYK or L)."""
    folder.mkdir(exist_ok=True)
    for i in range(n):
        img = Image.fromarray(scene(i, size))
        (img.convert(mode) if mode else img).save(folder / f"frame_{i:03d}.jpg", quality=95, **pillow)
    return folder


def planes(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def encode_both(folder: Path, out: Path, monkeypatch, codec="mp4v", suffix=".mp4") -> tuple[list, list]:
    """The frames encoded as they are, and again with the YUV way closed (BGR only)."""
    encode(folder, out / f"yuv{suffix}", EncodeOptions(codec=codec))
    with monkeypatch.context() as m:
        m.setattr(encode_module, "decode_yuv420", lambda data, size: None)
        encode(folder, out / f"bgr{suffix}", EncodeOptions(codec=codec))
    return planes(out / f"yuv{suffix}"), planes(out / f"bgr{suffix}")


def assert_alike(a: list[np.ndarray], b: list[np.ndarray], tolerance: float = 3.0) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        assert np.abs(x.astype(int) - y).mean() < tolerance


def test_a_plain_jpeg_takes_the_yuv_way_and_matches_the_bgr_way(tmp_path):
    # given a 4:2:0 JPEG
    path = save(tmp_path / "f", 1, (64, 48)) / "frame_000.jpg"
    data = path.read_bytes()
    # when decoded both ways
    frame = decode_yuv420(data, (64, 48))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    # then the YUV way gave limited-range yuv420p close to OpenCV's BGR made I420
    assert frame is not None and frame.format.name == "yuv420p"
    assert np.abs(frame.to_ndarray().astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)).mean() < 1.5


def test_the_video_holds_the_same_pictures_either_way(tmp_path, monkeypatch):
    yuv, bgr = encode_both(save(tmp_path / "f", 12), tmp_path, monkeypatch)
    assert_alike(yuv, bgr)


@pytest.mark.parametrize(("codec", "suffix"), [("h264", ".mp4"), ("vp9", ".webm")])
def test_other_yuv_codecs_agree_too(tmp_path, monkeypatch, codec, suffix):
    yuv, bgr = encode_both(save(tmp_path / "f", 6), tmp_path, monkeypatch, codec, suffix)
    assert_alike(yuv, bgr, tolerance=4.0)


def test_odd_sized_jpegs_are_fitted_through_bgr_to_an_even_video(tmp_path, monkeypatch):
    # given 63x47 frames (yuv420p codecs need even sides)
    folder = save(tmp_path / "f", 5, (63, 47))
    assert decode_yuv420((folder / "frame_000.jpg").read_bytes(), (62, 46)) is None
    yuv, bgr = encode_both(folder, tmp_path, monkeypatch)
    assert len(yuv) == 5 and yuv[0].shape == (46 * 3 // 2, 62)
    assert_alike(yuv, bgr)


def test_a_jpeg_turned_by_exif_goes_through_opencv_which_turns_it(tmp_path):
    # given landscape pixels whose EXIF orientation (6) says: turn a quarter clockwise
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(3):
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(scene(i, (64, 48))).save(folder / f"frame_{i}.jpg", quality=95, exif=exif)
    assert decode_yuv420((folder / "frame_0.jpg").read_bytes(), (64, 48)) is None
    # then the video is portrait, as OpenCV (and every viewer) shows the frames
    result = encode(folder, tmp_path / "o.mp4", EncodeOptions())
    assert (result.width, result.height) == (48, 64)


def test_a_progressive_jpeg_takes_the_yuv_way(tmp_path, monkeypatch):
    folder = save(tmp_path / "f", 4, progressive=True)
    assert decode_yuv420((folder / "frame_000.jpg").read_bytes(), (64, 48)) is not None
    yuv, bgr = encode_both(folder, tmp_path, monkeypatch)
    assert_alike(yuv, bgr)


@pytest.mark.parametrize(
    ("what", "pillow"), [("cmyk", {"mode": "CMYK"}), ("grey", {"mode": "L"}), ("444", {"subsampling": 0})]
)
def test_jpegs_the_yuv_way_cannot_feed_fall_back_to_bgr(tmp_path, monkeypatch, what, pillow):
    # given frames that are CMYK, grey, or 4:4:4 colour
    folder = save(tmp_path / "f", 4, **pillow)
    assert decode_yuv420((folder / "frame_000.jpg").read_bytes(), (64, 48)) is None
    # when encoded
    yuv, bgr = encode_both(folder, tmp_path, monkeypatch)
    # then every frame is there, as OpenCV decodes it
    assert len(yuv) == 4
    assert_alike(yuv, bgr)
    if what == "grey":  # no colour appeared from nowhere
        assert np.abs(yuv[0][48:].astype(int) - 128).max() <= 2


@pytest.mark.parametrize("codec", ["mp4v", "h264"])
def test_known_colours_come_out_in_the_range_players_assume(tmp_path, codec):
    # given one flat frame each of black, white and saturated red
    folder = tmp_path / "f"
    folder.mkdir()
    for i, (rgb, _) in enumerate(KNOWN.values()):
        Image.fromarray(np.full((64, 64, 3), rgb, np.uint8)).save(folder / f"frame_{i}.jpg", quality=100)
    assert decode_yuv420((folder / "frame_0.jpg").read_bytes(), (64, 64)) is not None
    # when encoded
    out = tmp_path / "o.mp4"
    encode(folder, out, EncodeOptions(codec=codec))
    # then each reads back as its BT.601 limited-range value
    for frame, (name, (_, (y, cb, cr))) in zip(planes(out), KNOWN.items(), strict=True):
        got = (frame[:64].mean(), frame[64:80].mean(), frame[80:].mean())
        assert np.allclose(got, (y, cb, cr), atol=4), (name, got)


@needs_ffprobe
def test_the_stream_does_not_claim_full_range(tmp_path):
    folder = save(tmp_path / "f", 3)
    encode(folder, tmp_path / "o.mp4", EncodeOptions(codec="h264"))
    info = probe_stream(tmp_path / "o.mp4", "pix_fmt", "color_range")
    assert info["pix_fmt"] == "yuv420p" and info.get("color_range", "unknown") in ("tv", "unknown")


def test_a_damaged_jpeg_is_judged_by_opencv_not_concealed(tmp_path):
    # given a JPEG whose entropy-coded data is overwritten in the middle (its end marker kept)
    path = save(tmp_path / "f", 1, (256, 192)) / "frame_000.jpg"
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 40] = b"\xff\xd0" * 20  # restart markers where none belong
    # then the YUV way declines it rather than returning a concealed picture
    assert decode_yuv420(bytes(data), (256, 192)) is None


def test_the_engine_reads_plain_jpegs_without_opencv(tmp_path, monkeypatch):
    # given plain 4:2:0 JPEGs, and OpenCV's decoder watched
    folder = save(tmp_path / "f", 5)
    through_bgr = []
    real = encode_module.decode_bgr
    monkeypatch.setattr(encode_module, "decode_bgr", lambda name, data: through_bgr.append(name) or real(name, data))
    # when encoded
    assert encode(folder, tmp_path / "o.mp4", EncodeOptions()).frames == 5
    # then every frame went the YUV way: OpenCV decoded only the poster's
    assert through_bgr == ["frame_000.jpg"]


def test_frames_from_the_yuv_way_are_not_all_key_frames(tmp_path):
    # A decoded JPEG calls itself an intra picture; passed on as such, every frame is a key frame.
    encode(save(tmp_path / "f", 24), tmp_path / "o.mp4", EncodeOptions(codec="h264"))
    with av.open(str(tmp_path / "o.mp4")) as c:
        keys = [p.is_keyframe for p in c.demux(video=0) if p.size]
    assert len(keys) == 24 and sum(keys) <= 2
