"""Issue 23's smaller points: a cached model is not fetched again, an offline fetch says what
to do, ``api.remove_background`` takes what a rembg user would pass, and ``--ray`` exits as the
one-machine run does."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from rtmatte.errors import ModelError
from rtmatte.matting.models import fetch
from rtmatte.matting.models.catalogue import get_model

# nothing listens on the discard port of loopback: a download from it fails at once
_UNREACHABLE = "http://127.0.0.1:9/rvm_mobilenetv3_fp32.onnx"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))
    return tmp_path / "models"


def _offline_entry():
    """The real catalogue entry with every source it names unreachable."""
    return dataclasses.replace(get_model("rvm-mobilenetv3"), url=_UNREACHABLE, wheel=None,
                               wheel_member=None)


def test_a_verified_cached_model_is_used_as_is(home, model_file) -> None:
    home.mkdir(parents=True)
    shutil.copy(model_file, home / model_file.name)
    notes: list[str] = []
    path = fetch.fetch_entry(_offline_entry(), notify=notes.append)
    assert path == home / model_file.name
    assert notes == [f"model rvm-mobilenetv3 already fetched and verified: {path}"]


def test_a_corrupted_cache_is_still_fetched_again(home) -> None:
    home.mkdir(parents=True)
    entry = _offline_entry()
    (home / entry.file).write_bytes(b"truncated")
    notes: list[str] = []
    with pytest.raises(ModelError, match="could not be downloaded"):
        fetch.fetch_entry(entry, notify=notes.append)
    assert any("fails its checksum" in note for note in notes)


def test_an_offline_fetch_says_how_to_place_the_file_by_hand(home) -> None:
    entry = _offline_entry()
    with pytest.raises(ModelError) as caught:
        fetch.fetch_entry(entry, timeout=5)
    message = str(caught.value)
    assert "\n" not in message
    assert "could not be downloaded" in message and "internet once" in message
    assert str(home / entry.file) in message and entry.sha256 in message
    assert not (home / entry.file).exists()


@pytest.fixture(scope="module")
def matter():
    from rtmatte import api

    return api.open_matter()


def test_remove_background_takes_a_path_bytes_an_array_or_a_pil_image(tmp_path, matter):
    import cv2
    import numpy as np
    from PIL import Image

    from rtmatte import api
    from rtmatte.samples import portrait

    rgb = portrait()
    path = tmp_path / "portrait.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    from_array = api.remove_background(rgb, matter)
    assert from_array.shape == (*rgb.shape[:2], 4) and from_array.dtype == np.uint8
    for picture in (str(path), path, path.read_bytes(), Image.fromarray(rgb)):
        np.testing.assert_array_equal(api.remove_background(picture, matter), from_array)


def test_remove_background_of_a_missing_file_says_so(tmp_path, matter):
    from rtmatte import api
    from rtmatte.errors import InputError

    with pytest.raises(InputError, match=r"portrait\.jpg: no such file"):
        api.remove_background(str(tmp_path / "portrait.jpg"), matter)


@pytest.mark.ray
def test_a_folder_where_every_file_failed_exits_2_with_ray_as_without(tmp_path, capsys):
    """docs/guarantees.md: 3 when some files failed, 2 when all did, on one machine or Ray."""
    pytest.importorskip("ray")
    from rtmatte.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"not a video")
    (folder / "b.mp4").write_bytes(b"nor this")
    assert main([str(folder), "-o", str(tmp_path / "one"), "--quiet"]) == 2
    assert main([str(folder), "-o", str(tmp_path / "ray"), "--ray", "local", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("2 of 2 files failed") == 2
    assert not (tmp_path / "one").exists() and not (tmp_path / "ray").exists()
