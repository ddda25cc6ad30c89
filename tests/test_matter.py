"""The frame-level Matter on the real model and real frames of a person."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import region_means, run_side_by_side

from rtmatte import api
from rtmatte.matting.matter import Matter, auto_downsample_ratio
from rtmatte.samples import clip_frame, portrait
from rtmatte.settings import Settings


@pytest.fixture(scope="module")
def matter(model_file) -> Matter:
    return api.open_matter(Settings(backend="onnx", device="cpu"))


def test_alpha_is_high_on_the_person_and_low_on_the_background(matter: Matter) -> None:
    matter.reset()
    for index in range(6):
        matte = matter(clip_frame(index, 24, 320, 240))
    person, background = region_means(matte.alpha)
    assert person > 0.95
    assert background < 0.05
    assert matte.alpha.shape == (240, 320)
    assert matte.fgr.shape == (240, 320, 3)
    assert matte.alpha.min() >= 0.0 and matte.alpha.max() <= 1.0


def test_remove_background_gives_straight_rgba(matter: Matter) -> None:
    rgba = api.remove_background(portrait(), matter)
    assert rgba.shape == (512, 512, 4) and rgba.dtype == np.uint8
    person, background = region_means(rgba[..., 3] / 255.0)
    assert person > 0.95 and background < 0.05


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1080, 1920), 0.25), ((2160, 3840), 0.125), ((720, 1280), 0.375), ((240, 320), 1.0)],
)
def test_auto_ratio_keeps_the_long_side_near_480(size, expected) -> None:
    assert auto_downsample_ratio(*size) == pytest.approx(expected)
    long_side = max(size) * auto_downsample_ratio(*size)
    assert 256 <= long_side <= 512 or auto_downsample_ratio(*size) == 1.0


def test_state_resets_on_resolution_change_and_hard_cut(matter: Matter) -> None:
    matter.reset()
    first = matter(clip_frame(0, 24, 320, 240)).alpha
    matter(clip_frame(1, 24, 320, 240))
    # a new size is a new clip: the result equals a fresh start on that frame
    resized = matter(clip_frame(0, 24, 256, 192)).alpha
    matter.reset()
    fresh = matter(clip_frame(0, 24, 256, 192)).alpha
    np.testing.assert_allclose(resized, fresh, atol=1e-6)
    # an unrelated picture after a shot is a cut: counted, and treated as a first frame
    cuts = matter.cuts
    matter.reset()
    matter(clip_frame(0, 24, 320, 240))
    matter(np.full((240, 320, 3), 250, np.uint8))
    assert matter.cuts == cuts + 1
    assert first.shape == (240, 320)


def test_state_held_as_bound_values_gives_the_same_mattes(model_file) -> None:
    """The GPU providers keep the state as ONNX Runtime values through I/O binding; the same
    binding code runs here with the values in host memory, against plain arrays."""
    import onnxruntime as ort

    from rtmatte.matting.backends.onnx import OnnxBackend

    pairs, (bound_state, plain_state) = run_side_by_side(
        OnnxBackend(model_file, state_device="cpu", host_refine=False),
        OnnxBackend(model_file, host_refine=False), 5, 256, 192, 0.5)
    for (alpha, fgr), (ref_alpha, ref_fgr) in pairs:
        assert alpha.shape == (192, 256) and fgr.shape == (192, 256, 3)
        assert np.abs(alpha - ref_alpha).max() <= 1e-5
        assert np.abs(fgr - ref_fgr).max() <= 1e-5
    assert all(isinstance(value, ort.OrtValue) for value in bound_state)
    assert [value.shape() for value in bound_state] == [list(a.shape) for a in plain_state]
    assert all(np.abs(value.numpy() - array).max() <= 1e-5
               for value, array in zip(bound_state, plain_state, strict=True))
