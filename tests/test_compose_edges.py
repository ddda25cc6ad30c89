"""Compositor edge treatments: decontamination removes a halo, light wrap stays at the rim."""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.compose.backgrounds import ColourBackground
from rtmatte.compose.compositor import Compositor
from rtmatte.compose.edges import SoftEdge, decontaminate, light_wrap
from rtmatte.post import PostSettings
from rtmatte.types import Frame, Matte

SIZE = (120, 160)
RED, GREEN = np.array([0.9, 0.1, 0.1], np.float32), np.array([0.1, 0.9, 0.1], np.float32)


def _subject() -> tuple[np.ndarray, np.ndarray]:
    """A red square with a 4-px soft rim whose colours still hold the old green background."""
    alpha = np.zeros(SIZE, np.float32)
    fgr = np.empty((*SIZE, 3), np.float32)
    fgr[:] = GREEN
    alpha[30:90, 40:120] = 0.5
    alpha[34:86, 44:116] = 1.0
    fgr[30:90, 40:120] = 0.5 * RED + 0.5 * GREEN
    fgr[34:86, 44:116] = RED
    return fgr, alpha


def test_decontamination_pulls_the_rim_towards_the_subject_colour() -> None:
    fgr, alpha = _subject()
    colour = decontaminate(np.round(fgr * 255).astype(np.uint8), SoftEdge(alpha, clear=True))
    colour = colour / np.float32(255)
    fgr = np.round(fgr * 255) / np.float32(255)
    rim = (alpha > 0) & (alpha < 1)
    before = np.abs(fgr[rim] - RED).mean()
    after = np.abs(colour[rim] - RED).mean()
    # a half-transparent pixel is moved half way: 0.27 → 0.18 measured
    assert after < 0.75 * before
    closer = np.abs(colour[rim] - RED).sum(axis=1) <= np.abs(fgr[rim] - RED).sum(axis=1)
    assert closer.all()
    solid = alpha == 1
    np.testing.assert_array_equal(colour[solid], fgr[solid])


def test_light_wrap_touches_only_the_inside_of_the_edge() -> None:
    fgr, alpha = _subject()
    picture = fgr * 255.0
    before = picture.copy()
    backdrop = np.zeros((*SIZE, 3), np.uint8)
    backdrop[:] = (0, 0, 255)
    light_wrap(picture, backdrop, alpha, 0.5)
    changed = np.abs(picture - before).max(axis=2) > 0.5
    assert changed[alpha > 0].any()
    assert not changed[alpha == 0].any()
    assert not changed[60, 80]  # deep inside the subject
    light_wrap(before, backdrop, alpha, 0.0)
    np.testing.assert_array_equal(before, fgr * 255.0)


def test_compositor_keeps_solid_and_clear_pixels_exact() -> None:
    fgr, alpha = _subject()
    fgr = cv2.convertScaleAbs(fgr, alpha=255.0)  # colours as the Matter gives them: 8-bit
    frame = Frame(rgb=np.zeros((*SIZE, 3), np.uint8), index=0)
    out = Compositor(ColourBackground((0, 0, 255)), PostSettings())(frame, Matte(alpha, fgr))
    assert out.dtype == np.uint8 and out.shape == (*SIZE, 3)
    assert tuple(out[5, 5]) == (0, 0, 255)
    assert tuple(out[60, 80]) == tuple(np.round(RED * 255).astype(np.uint8))
    rgba = Compositor(None, PostSettings())(frame, Matte(alpha, fgr))
    np.testing.assert_array_equal(rgba[..., 3], np.round(alpha * 255).astype(np.uint8))


def test_blur_background_fills_behind_the_subject_with_its_surroundings() -> None:
    """1080p: a blue left half and a yellow right half behind a bright green subject. The blur
    must keep each side's colour, mix them only across the seam, and never show the subject's
    green, which would be a halo around the person."""
    from rtmatte.compose.backgrounds import BlurBackground

    height, width = 1080, 1920
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = (30, 60, 200)
    rgb[:, width // 2:] = (220, 200, 40)
    alpha = np.zeros((height, width), np.float32)
    alpha[300:1080, 700:1200] = 1.0
    rgb[alpha > 0] = (0, 255, 0)
    for strength in (0.3, 1.0, 3.0):
        picture = BlurBackground(strength).render(Frame(rgb=rgb, index=0), alpha)
        assert picture.shape == (height, width, 3) and picture.dtype == np.uint8
        assert np.abs(picture[40:200, 40:400].astype(int) - (30, 60, 200)).max() <= 3
        assert np.abs(picture[40:200, -400:-40].astype(int) - (220, 200, 40)).max() <= 3
        # around the subject and just inside its edge, where a soft edge lets it show: no green
        # from the subject (at most yellow's 200); deeper inside it is hidden, whatever it is
        for rows, cols in [(slice(250, 310), slice(650, 1250)), (slice(250, 1080), slice(650, 710)),
                           (slice(250, 1080), slice(1190, 1250))]:
            assert picture[rows, cols, 1].max() <= 205
        seam = picture[100, width // 2 - 5: width // 2 + 5].astype(int)
        assert (np.diff(seam[:, 0]) >= 0).all()  # blue to yellow, smoothly
