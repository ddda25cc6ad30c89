"""The compositor's shortcuts (full-size work only in boxes round the soft edge, solid and clear
pixels copied) give the picture of the plain formulas, written out here in NumPy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rtmatte.compose.backgrounds import BlurBackground, ColourBackground
from rtmatte.compose.compositor import Compositor, Edges
from rtmatte.compose.filters import quarter, weighted_blur
from rtmatte.types import Frame, Matte


def _person(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera picture, alpha and foreground colours of a head and shoulders on a green wall.

    The edge is soft (a blurred silhouette, with Gaussian tails far below 1/255), the hair is a
    band of scattered partial alpha, and the edge's colours still hold some of the wall.
    """
    rng = np.random.default_rng(7)
    silhouette = np.zeros((height, width), np.float32)
    cx, scale = width // 2, height / 540
    cv2.ellipse(silhouette, (cx, int(170 * scale)), (int(80 * scale), int(105 * scale)), 0, 0,
                360, 1.0, -1)
    shoulders = np.array([[cx - 260 * scale, height], [cx - 150 * scale, 300 * scale],
                          [cx + 150 * scale, 300 * scale], [cx + 260 * scale, height]], np.int32)
    cv2.fillPoly(silhouette, [shoulders], 1.0)
    alpha = cv2.GaussianBlur(silhouette, (0, 0), 3.0)
    hair = cv2.dilate(silhouette, np.ones((25, 25), np.uint8)) - silhouette
    hair[int(150 * scale):] = 0
    alpha = np.maximum(alpha, hair * rng.random(hair.shape, np.float32) ** 3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    subject = np.stack([120 + 60 * np.sin(x / 40), 90 + 40 * np.cos(y / 30), 70 + 0 * x], -1)
    subject += rng.normal(0, 6, subject.shape)
    wall = np.array([40, 200, 60], np.float32) + rng.normal(0, 4, subject.shape)
    a = alpha[..., None]
    fgr = np.clip(subject * (0.5 + 0.5 * a) + wall * 0.5 * (1 - a) + 0.5, 0, 255)
    rgb = np.clip(subject * a + wall * (1 - a) + 0.5, 0, 255)
    return rgb.astype(np.uint8), alpha.astype(np.float32), fgr.astype(np.uint8)


def _blend(top: np.ndarray, bottom: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float64)
    return np.clip(top * a + bottom * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def _decontaminated(fgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Every pixel blended towards the alpha^4-weighted local average of the subject's colours."""
    guess, _ = weighted_blur(quarter(fgr).astype(np.float32), quarter(alpha) ** 4, 2.0)
    guess = np.clip(np.rint(guess), 0, 255).astype(np.uint8)
    height, width = alpha.shape
    guess = cv2.resize(guess, (width, height), interpolation=cv2.INTER_LINEAR)
    return _blend(fgr, guess, alpha)


def _assert_close(picture: np.ndarray, reference: np.ndarray) -> None:
    difference = np.abs(picture.astype(np.int16) - reference)
    assert difference.max() <= 2
    assert difference.mean() < 0.1


@pytest.mark.parametrize("size", [(540, 960), (480, 640), (203, 301)])
@pytest.mark.parametrize("decontaminate", [True, False])
def test_composite_matches_the_plain_formula(size: tuple[int, int], decontaminate: bool) -> None:
    rgb, alpha, fgr = _person(*size)
    frame, matte = Frame(rgb=rgb, index=0), Matte(alpha=alpha, fgr=fgr)
    foreground = _decontaminated(fgr, alpha) if decontaminate else fgr
    edges = Edges(decontaminate=decontaminate)
    for background in (ColourBackground((20, 40, 220)), BlurBackground()):
        picture = Compositor(background, edges)(frame, matte)
        _assert_close(picture, _blend(foreground, background.render(frame, alpha), alpha))


@pytest.mark.parametrize("size", [(540, 960), (203, 301)])
def test_transparent_output_matches_the_plain_formula(size: tuple[int, int]) -> None:
    """RGBA shows the colours of clear pixels too, so they are decontaminated as well."""
    rgb, alpha, fgr = _person(*size)
    rgba = Compositor(None)(Frame(rgb=rgb, index=0), Matte(alpha=alpha, fgr=fgr))
    _assert_close(rgba[..., :3], _decontaminated(fgr, alpha))
    np.testing.assert_array_equal(rgba[..., 3], np.round(alpha * 255).astype(np.uint8))
