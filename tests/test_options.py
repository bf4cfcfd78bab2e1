"""Option rules shared by CLI, API and engine."""

import math

import pytest

from img2vid.codecs import CODECS, check_suffix, get_codec
from img2vid.errors import BadFitError, BadFpsError, BadOutputNameError, BadSizeError, UnknownCodecError
from img2vid.options import EncodeOptions, parse_fps, parse_size


@pytest.mark.parametrize("bad", [0, -1, "0", math.nan, "nan", math.inf, "-inf", 240.01, 1000, "abc", None, ""])
def test_bad_fps_is_refused(bad):
    with pytest.raises(BadFpsError) as exc:
        parse_fps(bad)
    assert exc.value.code == "bad_fps"


@pytest.mark.parametrize("good, value", [(5, 5.0), ("29.97", 29.97), (0.5, 0.5), (240, 240.0)])
def test_fractional_fps_is_kept(good, value):
    assert parse_fps(good) == value


def test_unknown_codec_lists_the_codecs():
    with pytest.raises(UnknownCodecError) as exc:
        get_codec("divx")
    assert exc.value.code == "unknown_codec"
    for name in CODECS:
        assert name in exc.value.message


def test_codec_names_ignore_case():
    assert get_codec("H264").name == "h264"


@pytest.mark.parametrize("bad", ["1920", "1920x", "x1080", "0x10", "1x1", "20000x10", "axb", "-2x4"])
def test_bad_size_is_refused(bad):
    with pytest.raises(BadSizeError):
        parse_size(bad)


def test_sizes_parse():
    assert parse_size("1280x720") == (1280, 720)
    assert parse_size(" 640 X 480 ") == (640, 480)
    assert parse_size(None) is None


def test_bad_fit_is_refused():
    with pytest.raises(BadFitError):
        EncodeOptions.build(fit="zoom")


def test_suffix_must_suit_the_codec():
    with pytest.raises(BadOutputNameError, match=".webm or .mkv"):
        check_suffix(get_codec("vp9"), ".mp4")
    check_suffix(get_codec("h264"), ".MP4")
