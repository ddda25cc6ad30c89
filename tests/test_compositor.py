"""The compositor's switches, each seen in the picture: decontamination on by default, despill
in its place when asked (one or the other), harmonization moving the person's colours towards
the new background, light wrap at the rim only, and none of them touching alpha (README:
"edge colour decontamination (on by default)", docs/quality.md)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_compose_exact import _blend, _person

from rtmatte.compose.backgrounds import ColourBackground
from rtmatte.compose.compositor import Compositor, Edges, to_rgba
from rtmatte.compose.edges import light_wrap
from rtmatte.compose.spill import despill
from rtmatte.types import Frame, Matte

SIZE = (203, 301)
BLUE = (20, 40, 220)
SKY = (0, 60, 255)


@pytest.fixture(scope="module")
def scene() -> tuple[Frame, Matte]:
    rgb, alpha, fgr = _person(*SIZE)
    return Frame(rgb=rgb, index=0), Matte(alpha=alpha, fgr=fgr)


def _rim(alpha: np.ndarray) -> np.ndarray:
    return (alpha > 0.05) & (alpha < 0.95)


def test_transparent_only_without_a_background(scene) -> None:
    assert Compositor(None).transparent
    assert not Compositor(ColourBackground(BLUE)).transparent


def test_decontamination_is_on_by_default(scene) -> None:
    frame, matte = scene
    default = Compositor(ColourBackground(BLUE))(frame, matte)
    on = Compositor(ColourBackground(BLUE), Edges(decontaminate=True))(frame, matte)
    off = Compositor(ColourBackground(BLUE), Edges(decontaminate=False))(frame, matte)
    assert np.array_equal(default, on)
    rim = _rim(matte.alpha)
    # the rim's fringe of the old green wall is taken out
    assert np.abs(on[rim].astype(int) - off[rim]).max() >= 8
    assert on[rim][:, 1].mean() < off[rim][:, 1].mean() - 1
    assert Edges() == Edges(decontaminate=True, despill=False, light_wrap=0.0, harmonize=0.0)


def test_without_any_treatment_the_picture_is_the_plain_blend(scene) -> None:
    frame, matte = scene
    picture = Compositor(ColourBackground(BLUE), Edges(decontaminate=False))(frame, matte)
    backdrop = np.empty_like(frame.rgb)
    backdrop[:] = BLUE
    reference = _blend(matte.fgr, backdrop, matte.alpha)
    assert np.abs(picture.astype(int) - reference).max() <= 1


@pytest.mark.parametrize("decontaminate", [True, False])
def test_despill_takes_the_place_of_decontamination(scene, decontaminate: bool) -> None:
    frame, matte = scene
    edges = Edges(decontaminate=decontaminate, despill=True)
    picture = Compositor(ColourBackground(BLUE), edges)(frame, matte)
    backdrop = np.empty_like(frame.rgb)
    backdrop[:] = BLUE
    reference = _blend(despill(frame.rgb, matte.fgr, matte.alpha), backdrop, matte.alpha)
    assert np.abs(picture.astype(int) - reference).max() <= 1
    rgba = Compositor(None, edges)(frame, matte)
    assert np.abs(rgba[..., :3].astype(int)
                  - despill(frame.rgb, matte.fgr, matte.alpha)).max() == 0


def test_harmonize_moves_the_person_towards_the_backgrounds_colours(scene) -> None:
    frame, matte = scene
    solid = cv2.erode((matte.alpha > 0.99).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    plain = Compositor(ColourBackground(BLUE), Edges(harmonize=0.0))(frame, matte)
    moved = Compositor(ColourBackground(BLUE), Edges(harmonize=0.6))(frame, matte)
    before = np.abs(plain[solid].mean(axis=0) - BLUE).sum()
    after = np.abs(moved[solid].mean(axis=0) - BLUE).sum()
    assert after < 0.7 * before
    clear = matte.alpha == 0
    assert np.array_equal(moved[clear], plain[clear])  # the background itself is not changed
    # a cut-out has no background to match: the colours stay the model's (decontaminated)
    rgba = Compositor(None, Edges(harmonize=0.6))(frame, matte)
    assert np.array_equal(rgba, Compositor(None)(frame, matte))


def test_light_wrap_brightens_the_rim_with_the_background_only_there(scene) -> None:
    frame, matte = scene  # a sky with no red at all: a level of 0 stays 0
    plain = Compositor(ColourBackground(SKY))(frame, matte)
    wrapped = Compositor(ColourBackground(SKY), Edges(light_wrap=0.5))(frame, matte)
    lit = plain.astype(np.float32)
    backdrop = np.empty_like(frame.rgb)
    backdrop[:] = SKY
    light_wrap(lit, backdrop, matte.alpha, 0.5)
    assert np.array_equal(wrapped, np.clip(lit + 0.5, 0, 255).astype(np.uint8))
    changed = np.abs(wrapped.astype(int) - plain).max(axis=2) > 2
    assert changed[_rim(matte.alpha)].mean() > 0.3
    assert not changed[matte.alpha == 0].any()
    # towards blue: the rim's blue grows
    rim = changed & _rim(matte.alpha)
    assert (wrapped[rim][:, 2].astype(int) >= plain[rim][:, 2]).all()


def test_no_treatment_changes_alpha(scene) -> None:
    frame, matte = scene
    expected = np.rint(matte.alpha.astype(np.float64) * 255).astype(np.uint8)
    for edges in (Edges(), Edges(despill=True), Edges(light_wrap=0.4, harmonize=0.5),
                  Edges(decontaminate=False)):
        rgba = Compositor(None, edges)(frame, matte)
        assert rgba.dtype == np.uint8 and rgba.shape == (*SIZE, 4)
        np.testing.assert_array_equal(rgba[..., 3], expected)


def test_a_float64_or_strided_alpha_gives_the_same_picture(scene) -> None:
    frame, matte = scene
    reference = Compositor(ColourBackground(BLUE))(frame, matte)
    wide = np.zeros((SIZE[0], SIZE[1] * 2), np.float64)
    wide[:, ::2] = matte.alpha
    strided = Matte(alpha=wide[:, ::2], fgr=matte.fgr)
    assert np.array_equal(Compositor(ColourBackground(BLUE))(frame, strided), reference)


def test_rgba_is_straight_and_rounded() -> None:
    foreground = np.array([[[200, 100, 50], [10, 20, 30], [0, 0, 0]]], np.uint8)
    alpha = np.array([[0.5, 0.1 / 255 + 3 / 255, 1.2]], np.float32)
    rgba = to_rgba(foreground, alpha)
    assert rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], foreground)  # not premultiplied
    np.testing.assert_array_equal(rgba[0, :, 3], [128, 3, 255])
