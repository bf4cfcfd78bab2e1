"""Each codec's size limits in the codec table are the encoder's real ones: at the limit
the engine's writer encodes and reads back two frames; one step past it the encoder
itself refuses (so the table is not merely cautious); and a size past a limit is
refused before any encoding, naming the codec and the limit."""

from __future__ import annotations

import numpy as np
import pytest

from img2vid.engine.codecs import CODECS, check_size, get_codec
from img2vid.engine.options import DEFAULT_MAX_PIXELS, EncodeOptions
from img2vid.engine.verify import probe_video
from img2vid.engine.writers import open_writer
from img2vid.errors import BadSizeError, EncoderError

THIN = 64
# ffv1 has no side limit of its own (its entry is AVI's, which refuses 65536 wide: the
# writer's .mkv would take it).
NO_LIMIT_OF_ITS_OWN = {"ffv1"}


def encode_two(codec_name: str, size: tuple[int, int], tmp_path) -> tuple[int, int, int]:
    codec = get_codec(codec_name)
    path = tmp_path / f"limit{codec.suffix}"
    writer = open_writer(codec, path, 5.0, size)
    try:
        for value in (0, 200):
            writer.write(writer.prepare(np.full((size[1], size[0], 3), value, np.uint8)))
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return probe_video(path)


@pytest.mark.parametrize("name", list(CODECS))
@pytest.mark.parametrize("side", ["width", "height"])
def test_the_encoder_takes_the_largest_size_in_the_table_and_refuses_the_next(name, side, tmp_path):
    codec = CODECS[name]
    largest = (codec.max_width, THIN) if side == "width" else (THIN, codec.max_height)
    assert encode_two(name, largest, tmp_path) == (2, *largest)
    if name in NO_LIMIT_OF_ITS_OWN:
        return
    past = (largest[0] + 2, THIN) if side == "width" else (THIN, largest[1] + 2)
    with pytest.raises(EncoderError):
        encode_two(name, past, tmp_path / "past")


def test_a_size_past_a_limit_is_refused_before_encoding_naming_it():
    # given 16384x16384, which no codec here can take within the default pixel limit
    for name in CODECS:
        with pytest.raises(BadSizeError) as err:
            EncodeOptions.parse(codec=name, size="16384x16384")
        assert name in str(err.value) or "IMG2VID_MAX_PIXELS" in str(err.value)
    # each side against its codec's own limit, as the engine will write it (made even)
    with pytest.raises(BadSizeError, match="mp4v takes pictures of at most 8190x8190, got 8192x64"):
        check_size(CODECS["mp4v"], (8192, 64), DEFAULT_MAX_PIXELS)
    check_size(CODECS["mp4v"], (8191, 64), DEFAULT_MAX_PIXELS)  # written as 8190x64
    # a pixel limit raised by the operator still meets what FFmpeg and VP8 can hold
    with pytest.raises(BadSizeError, match="larger than FFmpeg can hold"):
        check_size(CODECS["h264"], (16384, 16130), 10**9)
    check_size(CODECS["h264"], (16384, 16128), 10**9)
    with pytest.raises(BadSizeError, match="vp8 cannot be relied on"):
        check_size(CODECS["vp8"], (4098, 4098), 10**9)
    check_size(CODECS["vp8"], (4096, 4096), 10**9)
