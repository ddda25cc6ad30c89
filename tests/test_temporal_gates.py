"""Temporal smoothing's two gates, on real arrays: still flicker is averaged, while a pixel whose
picture moved or whose alpha jumped takes the new matte as it is (README: "about half the
flicker, same accuracy"; docs/quality.md). Each gate is tested alone, with the other held open,
so a gate switched off fails its own test."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from rtmatte.post.temporal import TemporalSmoother
from rtmatte.types import Matte

SHAPE = (96, 128)
STRENGTH = 0.8
JUMP = 0.3  # the alpha change docs/quality.md names as the subject really moving


def _matte(alpha: np.ndarray | float, shape: tuple[int, int] = SHAPE) -> Matte:
    alpha = np.broadcast_to(np.float32(alpha), shape).astype(np.float32)
    return Matte(alpha=alpha, fgr=np.full((*shape, 3), 7, np.uint8))


def _grey(value: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    return np.full((*shape, 3), value, np.uint8)


def _textured(shape: tuple[int, int] = SHAPE, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 200, (*shape, 3), dtype=np.uint8)


def test_the_first_frame_and_a_reset_pass_the_matte_through() -> None:
    smoother = TemporalSmoother()
    first = _matte(0.4)
    assert smoother(_grey(100), first) is first
    smoother.reset()
    again = _matte(0.9)
    assert smoother(_grey(100), again) is again


def test_a_still_pixel_keeps_strength_of_the_previous_output() -> None:
    """Nothing moved and alpha changed by 0.03: the previous output weighs strength, less the
    share the alpha gate takes for a change that size (a tenth of the jump)."""
    for strength in (0.8, 0.5):
        smoother = TemporalSmoother(strength=strength)
        smoother(_textured(), _matte(0.50))
        out = smoother(_textured(), _matte(0.53))
        weight = strength * (1 - 0.03 / JUMP)
        assert np.allclose(out.alpha, 0.53 - 0.03 * weight, atol=1e-5)
        assert out.alpha.dtype == np.float32 and out.fgr is not None


def test_still_flicker_is_averaged_down() -> None:
    """Alpha flickering by +-0.05 over a still picture: the output's frame-to-frame change is
    well under half the input's, and it stays centred on the true value."""
    smoother = TemporalSmoother()
    picture = _textured()
    raw = [0.6 + 0.05 * (-1) ** k for k in range(16)]
    out = [float(smoother(picture, _matte(a)).alpha.mean()) for a in raw]
    raw_change = np.abs(np.diff(raw[4:])).mean()
    out_change = np.abs(np.diff(out[4:])).mean()
    assert out_change < 0.4 * raw_change
    assert abs(np.mean(out[4:]) - 0.6) < 0.02


def test_an_alpha_jump_over_a_still_picture_passes_unsmoothed() -> None:
    """The picture stands still (the motion gate stays open) but the model's alpha jumps by the
    jump size or more: the new matte is taken as it is. Smaller changes are still averaged."""
    smoother = TemporalSmoother()
    picture = _textured()
    smoother(picture, _matte(0.0))
    alpha = np.zeros(SHAPE, np.float32)
    alpha[:, :32] = 1.0  # a jump of 1
    alpha[:, 32:64] = JUMP + 0.01  # just past the jump size
    alpha[:, 64:96] = 0.1  # a third of it: smoothed
    out = smoother(picture, _matte(alpha)).alpha
    assert np.array_equal(out[:, :64], alpha[:, :64])
    expected = 0.1 - 0.1 * STRENGTH * (1 - 0.1 / JUMP)
    assert np.allclose(out[:, 64:96], expected, atol=1e-5)
    assert np.array_equal(out[:, 96:], alpha[:, 96:])  # no change at all: stays 0


def test_a_falling_jump_passes_too() -> None:
    smoother = TemporalSmoother()
    picture = _textured()
    smoother(picture, _matte(0.9))
    out = smoother(picture, _matte(0.2)).alpha
    assert np.array_equal(out, np.full(SHAPE, 0.2, np.float32))


def test_where_the_picture_moves_the_new_matte_is_taken() -> None:
    """Alpha changes by 0.2 everywhere (under the jump size: the alpha gate leaves it to be
    smoothed); the picture changes by 60 grey levels in one box. In the box and one pixel
    round it the new alpha is taken; far from it, the still part is averaged."""
    smoother = TemporalSmoother()
    before, after = _grey(90), _grey(90)
    after[30:60, 40:80] = 150
    smoother(before, _matte(0.5))
    out = smoother(after, _matte(0.7)).alpha
    assert np.abs(out[30:60, 40:80] - 0.7).max() < 1e-4
    # the change is spread a pixel (a moving object's flat interior barely changes)
    assert np.abs(out[29, 40:80] - 0.7).max() < 1e-4
    assert np.abs(out[30:60, 80] - 0.7).max() < 1e-4
    still = 0.7 - 0.2 * STRENGTH * (1 - 0.2 / JUMP)
    # and only a pixel, the same on every side: two pixels out, the still part begins
    for edge in (out[28, 40:80], out[61, 40:80], out[30:60, 38], out[30:60, 81]):
        assert np.allclose(edge, still, atol=1e-5)
    assert np.allclose(out[:20], still, atol=1e-5)
    assert np.allclose(out[:, 100:], still, atol=1e-5)


def test_the_motion_gate_falls_to_one_over_e_at_the_motion_level() -> None:
    """A uniform grey change of exactly ``motion`` levels leaves the previous output e^-1 of its
    still weight; twice that, e^-4. Sensor-noise-sized changes barely move it."""
    for change, factor in ((8, math.exp(-1)), (16, math.exp(-4)), (1, math.exp(-1 / 64))):
        smoother = TemporalSmoother(motion=8.0)
        smoother(_grey(100), _matte(0.5))
        out = smoother(_grey(100 + change), _matte(0.53)).alpha
        weight = STRENGTH * factor * (1 - 0.03 / JUMP)
        assert np.allclose(out, 0.53 - 0.03 * weight, atol=1e-5), change
    smoother = TemporalSmoother()  # the default motion level is 8
    smoother(_grey(100), _matte(0.5))
    out = smoother(_grey(108), _matte(0.53)).alpha
    assert np.allclose(out, 0.53 - 0.03 * STRENGTH * math.exp(-1) * 0.9, atol=1e-5)
    smoother = TemporalSmoother(motion=16.0)
    smoother(_grey(100), _matte(0.5))
    out = smoother(_grey(116), _matte(0.53)).alpha
    assert np.allclose(out, 0.53 - 0.03 * STRENGTH * math.exp(-1) * 0.9, atol=1e-5)


def test_a_large_frame_is_judged_on_a_small_copy() -> None:
    """640x480: motion is judged at 320 px on the long side, and the gate is enlarged back over
    the whole frame, so the moving box and only its surroundings take the new matte."""
    shape = (480, 640)
    smoother = TemporalSmoother()
    before, after = _grey(90, shape), _grey(90, shape)
    after[200:300, 300:400] = 170
    smoother(before, _matte(0.5, shape))
    out = smoother(after, _matte(0.7, shape)).alpha
    assert out.shape == shape
    assert np.abs(out[204:296, 304:396] - 0.7).max() < 1e-4
    still = 0.7 - 0.2 * STRENGTH * (1 - 0.2 / JUMP)
    assert np.allclose(out[:150], still, atol=1e-5)
    assert np.allclose(out[:, 500:], still, atol=1e-5)


def test_sensor_noise_on_a_large_frame_is_not_taken_for_motion() -> None:
    """1280x720 with sensor noise of 6 grey levels in every frame, alpha flickering by +-0.05:
    motion is judged on a copy with a 320 px long side, each of its pixels the average of 16,
    where the noise is small, so the flicker is still averaged (measured 0.28 of the input's
    frame-to-frame change; judged at full size the noise reads as motion: 0.77)."""
    rng = np.random.default_rng(0)
    shape = (720, 1280)
    scene = cv2.GaussianBlur(rng.integers(60, 190, (*shape, 3)).astype(np.float32), (0, 0), 3)
    smoother = TemporalSmoother()
    raw = [0.6 + 0.05 * (-1) ** k for k in range(10)]
    out = []
    for value in raw:
        noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
        out.append(float(smoother(noisy, _matte(value, shape)).alpha.mean()))
    assert np.abs(np.diff(out[3:])).mean() < 0.35 * np.abs(np.diff(raw[3:])).mean()


@pytest.mark.parametrize("shape", [(1, 700), (700, 1), (3, 5)])
def test_thin_frames_keep_at_least_one_pixel(shape: tuple[int, int]) -> None:
    smoother = TemporalSmoother()
    smoother(_grey(50, shape), _matte(0.5, shape))
    out = smoother(_grey(50, shape), _matte(0.53, shape)).alpha
    assert out.shape == shape
    assert np.allclose(out, 0.53 - 0.03 * STRENGTH * 0.9, atol=1e-5)


def test_a_new_size_starts_again() -> None:
    smoother = TemporalSmoother()
    smoother(_grey(50), _matte(0.2))
    bigger = _matte(0.6, (100, 130))
    assert smoother(_grey(50, (100, 130)), bigger) is bigger
    out = smoother(_grey(50, (100, 130)), _matte(0.63, (100, 130))).alpha
    assert np.allclose(out, 0.63 - 0.03 * STRENGTH * 0.9, atol=1e-5)


def test_strength_zero_switches_it_off() -> None:
    smoother = TemporalSmoother(strength=0.0)
    smoother(_textured(), _matte(0.5))
    out = smoother(_textured(), _matte(0.55))
    assert np.array_equal(out.alpha, np.full(SHAPE, 0.55, np.float32))


def test_it_smooths_against_its_own_output_not_the_raw_matte() -> None:
    """Exponential smoothing: the third frame blends with the second's output."""
    smoother = TemporalSmoother()
    picture = _textured()
    smoother(picture, _matte(0.50))
    second = float(smoother(picture, _matte(0.53)).alpha.mean())
    third = smoother(picture, _matte(0.53)).alpha
    delta = second - 0.53
    assert np.allclose(third, 0.53 + delta * STRENGTH * (1 - abs(delta) / JUMP), atol=1e-5)
