"""Each post step's real property, on synthetic motion and on the real model's matte."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from rtmatte.cli.flags import add_post_arguments, overrides
from rtmatte.errors import SettingsError
from rtmatte.evaluation.metrics import flicker
from rtmatte.post import PostSettings, build_post
from rtmatte.post.hard import HardCut
from rtmatte.post.refine import GuidedRefiner
from rtmatte.post.shape import EdgeShaper
from rtmatte.post.temporal import TemporalSmoother
from rtmatte.samples import portrait
from rtmatte.settings import load_settings
from rtmatte.types import Matte

SIZE = (96, 128)


def _matte(alpha: np.ndarray) -> Matte:
    return Matte(alpha=alpha.astype(np.float32), fgr=np.zeros((*alpha.shape, 3), np.uint8))


def _square_scene(left: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((*SIZE, 3), 40, np.uint8)
    alpha = np.zeros(SIZE, np.float32)
    rgb[30:70, left:left + 40] = 200
    alpha[30:70, left:left + 40] = 1.0
    return rgb, alpha


def test_smoothing_lowers_flicker_on_a_still_noisy_scene() -> None:
    rng = np.random.default_rng(1)
    base_rgb, base_alpha = _square_scene(40)
    smoother = TemporalSmoother()
    static = np.ones(SIZE, bool)
    raw_flicker, smooth_flicker = [], []
    previous = None
    for _ in range(12):
        rgb = np.clip(base_rgb + rng.normal(0, 2, base_rgb.shape), 0, 255).astype(np.uint8)
        alpha = np.clip(base_alpha + rng.normal(0, 0.05, SIZE), 0, 1).astype(np.float32)
        out = smoother(rgb, _matte(alpha)).alpha
        if previous is not None:
            raw_flicker.append(flicker(alpha, previous[0], static))
            smooth_flicker.append(flicker(out, previous[1], static))
        previous = (alpha, out)
    assert np.mean(smooth_flicker) < 0.6 * np.mean(raw_flicker)


def test_smoothing_follows_a_moving_edge_without_lag() -> None:
    smoother = TemporalSmoother()
    for step in range(8):
        rgb, alpha = _square_scene(10 + 6 * step)
        out = smoother(rgb, _matte(alpha)).alpha
        # the matte is where the square is now, not smeared towards where it was
        assert np.abs(out - alpha).max() < 0.02


def test_hard_cut_is_binary_and_drops_faint_islands() -> None:
    _, alpha = _square_scene(40)
    alpha[32:68, 38:40] = 0.5  # soft edge attached to the subject: kept
    alpha[5:10, 5:10] = 0.5  # faint blotch on its own: dropped
    out = HardCut(0.35, 0.75)(np.zeros((*SIZE, 3), np.uint8), _matte(alpha)).alpha
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert out[50, 39] == 1.0 and out[7, 7] == 0.0


def test_erode_shrinks_and_negative_erode_grows() -> None:
    _, alpha = _square_scene(40)
    rgb = np.zeros((*SIZE, 3), np.uint8)
    shrunk = EdgeShaper(erode=2)(rgb, _matte(alpha)).alpha
    grown = EdgeShaper(erode=-2)(rgb, _matte(alpha)).alpha
    assert shrunk.sum() < alpha.sum() < grown.sum()
    assert shrunk[30, 50] == 0.0 and grown[28, 50] == 1.0


def test_feather_softens_the_edge() -> None:
    _, alpha = _square_scene(40)
    out = EdgeShaper(feather=2.0)(np.zeros((*SIZE, 3), np.uint8), _matte(alpha)).alpha
    assert 0.2 < out[50, 40] < 0.8 and out[50, 60] > 0.99


@pytest.fixture(scope="module")
def portrait_matte() -> tuple[np.ndarray, Matte]:
    from rtmatte import api

    rgb = portrait()
    return rgb, api.open_matter()(rgb)


def test_guided_refinement_keeps_person_and_background_apart(portrait_matte) -> None:
    rgb, matte = portrait_matte
    refined = GuidedRefiner(radius=8, eps=1e-3)(rgb, matte).alpha
    person, background = matte.alpha > 0.99, matte.alpha < 0.01
    assert refined[person].mean() > 0.97
    assert refined[background].mean() < 0.03
    assert refined.dtype == np.float32 and refined.shape == matte.alpha.shape


def test_post_none_is_no_step_at_all(portrait_matte) -> None:
    rgb, matte = portrait_matte
    chain = build_post(PostSettings(enabled=False))
    assert chain.steps == [] and chain(rgb, matte) is matte


def test_flags_reach_the_settings_and_presets_load() -> None:
    parser = argparse.ArgumentParser()
    add_post_arguments(parser)
    args = parser.parse_args(["--erode", "2", "--hard", "--no-smooth", "--light-wrap", "0.2"])
    settings = load_settings("balanced", None, overrides(args))
    assert settings.post.erode == 2 and settings.post.hard and not settings.post.temporal
    assert settings.post.light_wrap == pytest.approx(0.2)
    assert overrides(parser.parse_args(["--post", "none"])) == {"post": {"enabled": False}}
    assert load_settings("balanced").post == PostSettings()
    # quality averages the frame's matte with its mirror's; the guided refinement hurt moving
    # clips (docs/quality.md)
    assert load_settings("quality").mirror and not load_settings("quality").post.refine
    assert not load_settings("fast-cpu").post.decontaminate
    for name in ("balanced", "quality", "fast-cpu"):
        load_settings(name).post.validate()
    with pytest.raises(SettingsError):
        PostSettings(hard_low=0.8, hard_high=0.5).validate()
