"""Reading one frame: header probing, the pixel limit, normalisation to 8-bit BGR."""

import struct
import zlib

import cv2
import numpy as np
import pytest

from img2vid.engine.frames import read_frame
from img2vid.engine.images import probe_size
from img2vid.errors import FrameTooLargeError, UnreadableFrameError


def write(path, img, params=()):
    assert cv2.imwrite(str(path), img, list(params))
    return path


def png_header_only(path, width, height):
    """A PNG that declares width x height in its header and holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))
    return path


def test_grey_frames_become_bgr(tmp_path):
    p = write(tmp_path / "g.png", np.full((10, 12), 77, np.uint8))
    img = read_frame(p)
    assert img.shape == (10, 12, 3) and img.dtype == np.uint8
    assert (img == 77).all()


def test_sixteen_bit_frames_become_eight_bit(tmp_path):
    p = write(tmp_path / "d.png", np.full((8, 8, 3), 0xABCD, np.uint16))
    img = read_frame(p)
    assert img.dtype == np.uint8 and (img == 0xAB).all()


def test_sixteen_bit_grey_tiff(tmp_path):
    p = write(tmp_path / "d.tiff", np.full((8, 8), 65535, np.uint16))
    img = read_frame(p)
    assert img.shape == (8, 8, 3) and (img == 255).all()


def test_alpha_is_composited_over_black(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., :3] = 200
    bgra[:2, :, 3] = 255  # top half opaque
    bgra[2:, :, 3] = 0  # bottom half transparent: its colour must not show
    img = read_frame(write(tmp_path / "a.png", bgra))
    assert img.shape == (4, 4, 3)
    assert (img[:2] == 200).all() and (img[2:] == 0).all()


def test_webp_and_bmp_are_read(tmp_path):
    for name in ("x.webp", "x.bmp"):
        img = read_frame(write(tmp_path / name, np.full((6, 8, 3), 120, np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101]))
        assert img.shape == (6, 8, 3)


def test_truncated_jpeg_is_refused_naming_the_file(tmp_path):
    good = write(tmp_path / "ok.jpg", np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8))
    cut = tmp_path / "cut_0007.jpg"
    cut.write_bytes(good.read_bytes()[:-40])  # most of the image, no end marker
    with pytest.raises(UnreadableFrameError) as exc:
        read_frame(cut)
    assert exc.value.code == "unreadable_frame"
    assert "cut_0007.jpg" in exc.value.message and exc.value.path == cut.name


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".bmp"])
def test_truncated_files_of_other_formats_are_refused(tmp_path, suffix):
    good = write(tmp_path / f"ok{suffix}", np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8))
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UnreadableFrameError, match=f"cut{suffix}"):
        read_frame(cut)


def test_a_file_that_is_not_an_image_is_refused_at_the_header(tmp_path):
    p = tmp_path / "fake.jpg"
    p.write_bytes(b"this is text, not a JPEG")
    with pytest.raises(UnreadableFrameError, match="fake.jpg"):
        probe_size(p, 50_000_000)


def test_probe_reads_the_size_from_the_header(tmp_path):
    p = write(tmp_path / "s.png", np.zeros((30, 40, 3), np.uint8))
    assert probe_size(p, 50_000_000) == (40, 30)


def test_too_many_pixels_is_refused_before_decoding(tmp_path):
    # given a header that claims 20000 x 20000 and no pixel data at all
    p = png_header_only(tmp_path / "huge.png", 20000, 20000)
    # then the refusal is about size, proving the pixels were never decoded
    with pytest.raises(FrameTooLargeError) as exc:
        probe_size(p, 50_000_000)
    assert exc.value.code == "frame_too_large"
    assert "huge.png" in exc.value.message and "400.0 megapixels" in exc.value.message


def test_pixel_limit_is_configurable(tmp_path):
    p = write(tmp_path / "s.png", np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(FrameTooLargeError):
        probe_size(p, 64 * 48 - 1)
    assert probe_size(p, 64 * 48) == (64, 48)


def test_jpeg_exif_orientation_is_applied_and_probed(tmp_path):
    # given a 40x20 JPEG whose EXIF says "rotate 90° clockwise to display"
    from PIL import Image

    p = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20), (200, 10, 10)).save(p, exif=exif.tobytes())
    # then both the header probe and the decoded frame are 20 wide and 40 high
    assert probe_size(p, 50_000_000) == (20, 40)
    assert read_frame(p).shape == (40, 20, 3)


def test_float_tiff_in_zero_to_one_becomes_eight_bit(tmp_path):
    p = write(tmp_path / "f.tiff", np.full((4, 4, 3), 0.5, np.float32))
    img = read_frame(p)
    assert img.dtype == np.uint8 and (np.abs(img.astype(int) - 127) <= 1).all()
