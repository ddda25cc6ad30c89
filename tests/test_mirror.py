"""Mirror averaging (``mirror = true``, the ``quality`` preset): the real model on real frames.

RVM alone is not mirror-symmetric: the matte of a mirrored clip is not the mirrored matte. The
mean of the two runs is, exactly, whatever the model does; and on a moving clip with exact alpha
the quality preset built on it scores better than the defaults on both MAD and dtSSD.
"""

from __future__ import annotations

import numpy as np
import pytest

from rtmatte import api
from rtmatte.errors import SettingsError
from rtmatte.evaluation.material import CLIPS, render_clip
from rtmatte.evaluation.metrics import ClipScores
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.matting.matter import Matter
from rtmatte.matting.mirror import MirrorMatter
from rtmatte.post import build_post
from rtmatte.run.engine import open_matter
from rtmatte.samples import clip_frame
from rtmatte.settings import Settings, load_settings

SIZE = (256, 192)
FRAMES = 6


def _mattes(matter: Matter, frames: list[np.ndarray]) -> list[np.ndarray]:
    matter.reset()
    return [matter(rgb).alpha.copy() for rgb in frames]


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return [clip_frame(index, FRAMES, *SIZE) for index in range(FRAMES)]


@pytest.fixture(scope="module")
def mirror_matter() -> Matter:
    return api.open_matter(Settings(mirror=True, device="cpu", backend="onnx"))


def test_the_settings_keys_build_a_mirror_matter_at_a_larger_working_size(mirror_matter):
    assert isinstance(mirror_matter, MirrorMatter)
    plain = api.open_matter(Settings(device="cpu", backend="onnx"))
    assert not isinstance(plain, MirrorMatter)
    assert load_settings("quality").mirror and not load_settings().mirror
    quality = api.open_matter(load_settings("quality", overrides={"backend": "onnx"}))
    assert quality.ratio_for(540, 960) == pytest.approx(0.6)  # 576 px on the long side
    assert plain.ratio_for(540, 960) == pytest.approx(0.5)  # 480: RVM's advice
    with pytest.raises(SettingsError):
        load_settings(overrides={"auto_long_side": 64})


def test_the_matte_of_a_mirrored_clip_is_the_mirrored_matte(mirror_matter, clip):
    """Exactly, frame by frame with the state carried, where the model alone is not."""
    mirrored = [np.ascontiguousarray(rgb[:, ::-1]) for rgb in clip]
    plain = api.open_matter(Settings(device="cpu", backend="onnx"))
    alone = [a[:, ::-1] - b for a, b in zip(_mattes(plain, clip), _mattes(plain, mirrored),
                                             strict=True)]
    assert max(float(np.abs(d).max()) for d in alone) > 0.05  # RVM itself is not symmetric
    for a, b in zip(_mattes(mirror_matter, clip), _mattes(mirror_matter, mirrored), strict=True):
        np.testing.assert_array_equal(a[:, ::-1], b)


def test_on_a_symmetric_clip_it_is_the_model_s_matte_averaged_with_its_mirror(mirror_matter,
                                                                              clip):
    """Both runs see the same frames, so the result is the model's own matte (m + mirrored m) / 2:
    symmetric, as the frames are, which RVM's own matte is not."""
    symmetric = [np.ascontiguousarray(np.hstack([rgb[:, : SIZE[0] // 2],
                                                 rgb[:, : SIZE[0] // 2][:, ::-1]]))
                 for rgb in clip]
    plain = api.open_matter(Settings(device="cpu", backend="onnx"))
    for a, own in zip(_mattes(mirror_matter, symmetric), _mattes(plain, symmetric), strict=True):
        assert float(np.abs(own - own[:, ::-1]).max()) > 0.01
        np.testing.assert_array_equal(a, a[:, ::-1])
        np.testing.assert_allclose(a, (own + own[:, ::-1]) / 2, atol=1e-6)


def test_a_scene_cut_restarts_both_states(mirror_matter, clip):
    """After a cut the matte is what a fresh clip starting there gives."""
    dark = np.zeros_like(clip[0])
    mirror_matter.reset()
    for rgb in (dark, dark):
        mirror_matter(rgb)
    after_cut = mirror_matter(clip[0]).alpha.copy()
    assert mirror_matter.cuts >= 1
    np.testing.assert_array_equal(after_cut, _mattes(mirror_matter, clip[:1])[0])


def _score(settings: Settings, frames: list) -> dict[str, float]:
    matter = api.open_matter(settings)
    post = build_post(settings.post)
    scores = ClipScores()
    for frame in frames:
        scores.add(post(frame.rgb, matter(frame.rgb)).alpha, frame.alpha, spatial=False)
    return scores.summary()


def test_the_quality_preset_beats_the_default_on_a_moving_clip():
    """rocket-video (the camera pans a photo, the person shakes): exact alpha on every frame."""
    frames = list(render_clip(CLIPS["rocket-video"], load_person_layer(), 16, (384, 216)))
    pinned = {"device": "cpu", "backend": "onnx"}
    default = _score(load_settings(overrides=pinned), frames)
    quality = _score(load_settings("quality", overrides=pinned), frames)
    assert quality["mad"] < 0.95 * default["mad"], (quality, default)
    assert quality["dtssd"] < 0.95 * default["dtssd"], (quality, default)


def test_the_live_path_runs_the_model_once_a_frame_and_says_so():
    heard: list[str] = []
    settings = Settings(mirror=True, device="cpu", backend="onnx")
    matter = open_matter(settings, heard.append, live=True)
    assert type(matter) is Matter
    assert len(heard) == 1 and "for files" in heard[0], heard
