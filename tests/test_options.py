"""Option rules shared by CLI, API and engine."""

import math

import pytest
from pydantic import ValidationError

from img2vid.engine.codecs import CODECS, check_suffix, get_codec
from img2vid.engine.options import EncodeOptions
from img2vid.errors import (
    BadFitError,
    BadFpsError,
    BadOutputNameError,
    BadSizeError,
    UnknownCodecError,
    from_validation,
)


def options(**values) -> EncodeOptions:
    """The options exactly as given (None too), refused as the edges refuse them."""
    try:
        return EncodeOptions.model_validate(values)
    except ValidationError as exc:
        raise from_validation(exc) from None


@pytest.mark.parametrize("bad", [0, -1, "0", math.nan, "nan", math.inf, "-inf", 240.01, 1000, "abc", None, ""])
def test_bad_fps_is_refused(bad):
    with pytest.raises(BadFpsError) as exc:
        options(fps=bad)
    assert exc.value.code == "bad_fps"


@pytest.mark.parametrize("good, value", [(5, 5.0), ("29.97", 29.97), (0.5, 0.5), (240, 240.0)])
def test_fractional_fps_is_kept(good, value):
    assert options(fps=good).fps == value


def test_unknown_codec_lists_the_codecs():
    with pytest.raises(UnknownCodecError) as exc:
        get_codec("divx")
    assert exc.value.code == "unknown_codec"
    for name in CODECS:
        assert name in exc.value.message
    with pytest.raises(UnknownCodecError) as exc:
        options(codec="divx")
    assert all(name in exc.value.message for name in CODECS)


def test_codec_names_ignore_case():
    assert get_codec("H264").name == "h264"
    assert options(codec="H264").codec == "h264"


@pytest.mark.parametrize("bad", ["1920", "1920x", "x1080", "0x10", "1x1", "20000x10", "axb", "-2x4"])
def test_bad_size_is_refused(bad):
    with pytest.raises(BadSizeError):
        options(size=bad)


def test_sizes_parse():
    assert options(size="1280x720").size == (1280, 720)
    assert options(size=" 640 X 480 ").size == (640, 480)
    assert options(size=None).size is None
    assert EncodeOptions.parse(size=None).size is None


def test_bad_fit_is_refused():
    with pytest.raises(BadFitError):
        EncodeOptions.parse(fit="zoom")


def test_suffix_must_suit_the_codec():
    with pytest.raises(BadOutputNameError, match=".webm or .mkv"):
        check_suffix(get_codec("vp9"), ".mp4")
    check_suffix(get_codec("h264"), ".MP4")
