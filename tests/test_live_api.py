"""The live path as a library (``api.open_live``) and its outputs combined like the file path's."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import region_means

from rtmatte import api
from rtmatte.cli import main
from rtmatte.errors import SettingsError
from rtmatte.samples import make_clip
from rtmatte.settings import load_settings

FPS = 12


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("live-api") / "talk.mp4", frames=2 * FPS,
                     size=(320, 240), fps=FPS, audio=False)


def test_realtime_with_alpha_output_writes_one_matte_per_delivered_frame(short_clip, tmp_path):
    stats, out = tmp_path / "s.json", tmp_path / "live.mp4"
    pattern = tmp_path / "a" / "%05d.png"
    assert main([str(short_clip), "--realtime", "--bg", "blur", "--alpha-output", str(pattern),
                 "-o", str(out), "--stats", str(stats), "--quiet"]) == 0
    data = json.loads(stats.read_text())
    mattes = sorted((tmp_path / "a").iterdir())
    assert len(mattes) == data["frames_out"] > 0
    assert [p.name for p in mattes] == [f"{n:05d}.png" for n in range(1, len(mattes) + 1)]
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == data["frames_out"]
    person, background = region_means(cv2.imread(str(mattes[-1]), cv2.IMREAD_UNCHANGED) / 255.0)
    assert person > 0.8 and background < 0.2


def test_open_live_yields_pictures_and_mattes(short_clip):
    settings = load_settings(overrides={"live": {"adapt": False}})
    seen = []
    with api.open_live(short_clip, bg="#00ff00", settings=settings) as live:
        for picture, frame, matte in live:
            seen.append((picture.shape, frame.pts, matte))
    assert live.result is not None and len(seen) <= live.result.frames_out
    assert len(seen) > FPS // 2
    assert all(shape == (240, 320, 3) for shape, _, _ in seen)
    pts = [p for _, p, _ in seen]
    assert pts == sorted(pts)
    person, background = region_means(seen[-1][2].alpha)
    assert person > 0.8 and background < 0.2


def _returns(work, limit_s: float = 60.0) -> list:
    """What ``work()`` returned or raised, from a thread: empty if it had not returned after
    ``limit_s`` (a hang guard, far above what returning takes, not a timing assumption)."""
    outcome: list = []

    def call() -> None:
        try:
            outcome.append(work())
        except Exception as error:
            outcome.append(error)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(limit_s)
    return outcome


@pytest.mark.parametrize("ran", [False, True])
def test_a_live_run_used_after_its_block_raises_at_once(short_clip, ran):
    """Iterating or running a live run after its ``with`` block (or a second time) is an
    error said at once, never a wait that does not end."""
    settings = load_settings(overrides={"live": {"adapt": False}})
    with api.open_live(short_clip, bg="#00ff00", settings=settings) as live:
        if ran:
            live.run()
    for use in (lambda: list(live), live.run):
        outcome = _returns(use)
        assert outcome, "it never returned"
        assert isinstance(outcome[0], RuntimeError), outcome
        assert "runs once" in str(outcome[0])


def test_open_live_releases_its_outputs_when_not_run(short_clip, tmp_path):
    out = tmp_path / "never.mp4"
    with api.open_live(short_clip, bg="blur", output=out):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_bad_background_opens_nothing(short_clip, tmp_path):
    with pytest.raises(SettingsError), api.open_live(short_clip, bg=["transparent", "blur"],
                                                     output=tmp_path / "o.mp4"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_live_settings_come_from_a_config(capsys, short_clip, tmp_path):
    config = tmp_path / "live.toml"
    config.write_text("[live]\nmatte_every = 2\nadapt = false\n")
    stats = tmp_path / "s.json"
    assert main([str(short_clip), "--realtime", "--bg", "blur", "--config", str(config),
                 "--stats", str(stats), "--quiet"]) == 0
    assert json.loads(stats.read_text())["matte_every"] == 2
    config.write_text("[live]\nmatte_every = 0\n")
    assert main([str(short_clip), "--realtime", "--config", str(config), "--quiet"]) == 2
    assert "matte-every" in capsys.readouterr().err


def test_delay_runs_the_output_behind_the_camera(capsys, short_clip, tmp_path):
    stats = tmp_path / "s.json"
    out = tmp_path / "o.mp4"
    assert main([str(short_clip), "--realtime", "--bg", "blur", "--delay", "3", "-o", str(out),
                 "--stats", str(stats), "--quiet"]) == 0
    figures = json.loads(stats.read_text())
    assert figures["delay"] == 3
    assert figures["frames_out"] >= figures["frames_in"] // 2
    # every frame waited out its delay: three intervals at the clip's rate
    assert figures["latency_ms"]["p50"] >= 3000 / FPS - 1
    for bad in ("-1", "61"):
        assert main([str(short_clip), "--realtime", "--delay", bad, "--quiet"]) == 2
        assert "--delay" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main([str(short_clip), "--realtime", "--delay", "two", "--quiet"])
    assert stopped.value.code == 2 and "--delay" in capsys.readouterr().err


def test_the_matte_of_a_frame_shown_without_the_effect_is_all_person(tmp_path):
    from rtmatte.sinks import AlphaSequenceSink
    from rtmatte.types import Frame

    sink = AlphaSequenceSink(str(tmp_path / "%03d.png"))
    picture = np.zeros((8, 10, 3), np.uint8)
    sink.write(picture, Frame(rgb=picture, index=0), None)
    sink.close()
    assert (cv2.imread(str(tmp_path / "001.png"), cv2.IMREAD_UNCHANGED) == 255).all()
