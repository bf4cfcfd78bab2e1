"""Placing frames of another size: contain, cover, stretch."""

import numpy as np

from img2vid.engine.fit import even_size, fit_frame


def white(w, h):
    return np.full((h, w, 3), 255, np.uint8)


def test_same_size_is_untouched():
    img = white(40, 30)
    assert fit_frame(img, (40, 30), "contain") is img


def test_contain_letterboxes_on_black():
    # given a square frame and a wide output
    out = fit_frame(white(30, 30), (60, 30), "contain")
    # then it is centred with black bars left and right
    assert out.shape == (30, 60, 3)
    assert (out[:, :15] == 0).all() and (out[:, 45:] == 0).all()
    assert (out[:, 15:45] == 255).all()


def test_cover_fills_and_crops_the_centre():
    img = np.zeros((30, 90, 3), np.uint8)
    img[:, 30:60] = 255  # white centre third
    out = fit_frame(img, (30, 30), "cover")
    assert out.shape == (30, 30, 3)
    assert (out == 255).all()  # only the centre survives


def test_stretch_ignores_aspect():
    out = fit_frame(white(10, 40), (80, 20), "stretch")
    assert out.shape == (20, 80, 3) and (out == 255).all()


def test_one_pixel_off_is_cropped_not_resampled():
    # a 65x49 frame into 64x48 (odd made even): pixels must stay exactly as they were
    img = np.random.default_rng(3).integers(0, 255, (49, 65, 3), np.uint8)
    out = fit_frame(img, (64, 48), "contain")
    assert out.shape == (48, 64, 3)
    assert (out == img[:48, :64]).all()


def test_even_size():
    assert even_size((1921, 1081)) == (1920, 1080)
    assert even_size((1920, 1080)) == (1920, 1080)
    assert even_size((1, 1)) == (2, 2)
