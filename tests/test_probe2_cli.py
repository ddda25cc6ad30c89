"""The second probe's command-line and planning cases: each refused in one line with exit code
2 before any work, leaving nothing behind (no file, no staging folder, no empty folder)."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import everything_under, one_line, run

from rtmatte import api
from rtmatte.argtypes import number, positive_number
from rtmatte.cli import main
from rtmatte.cli.process import build_parser
from rtmatte.errors import ArgumentError, RtmatteError, SettingsError
from rtmatte.post import PostSettings
from rtmatte.samples import make_clip, sunset_background
from rtmatte.settings import Settings, load_settings
from rtmatte.sinks.atomic import kept_path

LONG_STEM = "a" * 246  # with .mp4: a 250-byte name, which the file system takes


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("tiny") / "tiny.mp4", frames=4, size=(64, 48),
                     audio=False)


@pytest.fixture
def long_named(tmp_path: Path, tiny_clip: Path) -> Path:
    path = tmp_path / f"{LONG_STEM}.mp4"
    path.write_bytes(tiny_clip.read_bytes())
    return path


# --- item 8: a name the file system cannot take ----------------------------------------------

def test_a_long_input_name_with_the_default_output_is_refused(capsys, long_named) -> None:
    assert run(long_named, "--bg", "#00b140") == 2
    line = one_line(capsys)
    assert "258 bytes" in line and "255" in line and "pass -o" in line
    assert everything_under(long_named.parent) == [long_named.name]


def test_a_long_output_name_is_refused(capsys, tmp_path, tiny_clip) -> None:
    out = tmp_path / ("b" * 252 + ".mp4")
    assert run(tiny_clip, "-o", out, "--bg", "#00b140") == 2
    assert "256 bytes" in one_line(capsys)
    assert everything_under(tmp_path) == []


def test_a_folder_into_itself_with_a_long_name_is_refused(capsys, long_named) -> None:
    assert run(long_named.parent, "--bg", "#00b140") == 2
    assert "pass -o" in one_line(capsys)
    assert everything_under(long_named.parent) == [long_named.name]


def test_the_long_input_name_works_with_a_shorter_output(capsys, long_named, tmp_path) -> None:
    out = tmp_path / "short.mp4"
    assert run(long_named, "-o", out, "--bg", "#00b140") == 0
    assert out.stat().st_size > 0


def test_a_stats_name_too_long_is_refused_before_the_run(capsys, tmp_path, tiny_clip) -> None:
    out = tmp_path / "out.mp4"
    assert run(tiny_clip, "-o", out, "--bg", "#00b140", "--stats",
               tmp_path / ("s" * 260 + ".json")) == 2
    assert "give --stats a shorter name" in one_line(capsys)
    assert not out.exists()


def test_a_matte_pattern_too_long_is_refused(capsys, tmp_path, tiny_clip) -> None:
    out = tmp_path / "out.mp4"
    assert run(tiny_clip, "-o", out, "--bg", "#00b140", "--alpha-output",
               tmp_path / "mattes" / ("m" * 250 + "%05d.png")) == 2
    assert "give --alpha-output a shorter pattern" in one_line(capsys)
    assert everything_under(tmp_path) == []


def test_the_partial_name_of_a_long_output_fits(tmp_path) -> None:
    target = tmp_path / ("c" * 250 + ".mp4")  # itself fine; NAME.partial.mp4 would be 258
    kept = kept_path(target)
    assert kept.name.endswith(".partial.mp4") and kept.name.startswith("ccc")
    assert len(os.fsencode(kept.name)) == 255
    kept.write_bytes(b"playable")  # the file system takes it


# --- refusals leave no empty folder -----------------------------------------------------------

@pytest.fixture
def clips(tmp_path: Path, tiny_clip: Path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "one.mp4").write_bytes(tiny_clip.read_bytes())
    return folder


@pytest.mark.parametrize("refused", [
    ["--bg", "no-such-picture.jpg"],          # the background, refused when the job is built
    ["--bg", "#00b140", "--model", "nope"],   # the model
    ["--bg", "#00b140", "--keep", "900,900"],  # a point outside the frame, found on frame 1
])
def test_a_refused_folder_run_leaves_no_output_folder(capsys, tmp_path, clips, refused) -> None:
    out = tmp_path / "new" / "deeper"
    assert run(clips, "-o", out, *refused) == 2
    one_line(capsys)
    assert not (tmp_path / "new").exists()


def test_a_refused_run_leaves_no_matte_folder(capsys, tmp_path, tiny_clip) -> None:
    assert run(tiny_clip, "-o", tmp_path / "out.mp4", "--bg", "#00b140", "--keep", "900,900",
               "--alpha-output", tmp_path / "mattes" / "run1" / "%05d.png") == 2
    one_line(capsys)
    assert everything_under(tmp_path) == []


def test_a_folder_run_makes_its_output_folder(capsys, tmp_path, clips) -> None:
    out = tmp_path / "new" / "deeper"
    assert run(clips, "-o", out, "--bg", "#00b140") == 0
    assert everything_under(tmp_path / "new") == ["deeper", "deeper/one.mp4"]


# --- item 10: --keep X,Y on a clip with nobody in it ------------------------------------------

@pytest.fixture(scope="module")
def empty_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight frames panning across an empty sunset: no person anywhere."""
    wall = sunset_background(200, 120)
    path = tmp_path_factory.mktemp("empty") / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(8):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(wall[:, index * 4:index * 4 + 160]), "rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 12)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_keep_a_point_in_a_clip_with_nobody_stops_with_exit_2(capsys, tmp_path, empty_clip):
    out = tmp_path / "out.mp4"
    assert run(empty_clip, "-o", out, "--bg", "#00b140", "--keep", "80,60") == 2
    assert "--keep 80,60: nobody is at that point" in one_line(capsys)
    assert everything_under(tmp_path) == []


def test_keep_largest_in_a_clip_with_nobody_still_writes_it(tmp_path, empty_clip) -> None:
    out = tmp_path / "out.mp4"
    assert run(empty_clip, "-o", out, "--bg", "#00b140", "--keep", "largest") == 0
    assert out.stat().st_size > 0


def test_keep_a_point_with_nobody_through_the_api(tmp_path, empty_clip) -> None:
    settings = load_settings(overrides={"post": {"keep": "80,60"}})
    with pytest.raises(SettingsError, match="nobody is at that point"):
        api.process(empty_clip, tmp_path / "out.mp4", bg="#00b140", settings=settings)
    assert everything_under(tmp_path) == []
    with av.open(str(empty_clip)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with pytest.raises(SettingsError, match="nobody is at that point"):
        api.remove_background(picture, settings=settings)


@pytest.mark.parametrize("form", [["--keep=-1,-1"], ["--keep", "-1,-1"], ["--keep", "5,-3"]])
def test_a_negative_keep_point_is_read_and_refused(capsys, tmp_path, tiny_clip, form) -> None:
    assert run(tiny_clip, "-o", tmp_path / "out.mp4", *form) == 2
    line = one_line(capsys)
    assert "from 0,0 at its top-left corner" in line and form[-1].split("=")[-1] in line
    assert everything_under(tmp_path) == []


# --- item 11: nan and inf, refused for every number setting however it is given --------------

#: every flag that takes a number with a fraction: those read by the shared number types, and
#: --downsample-ratio (auto or a number, read by the settings)
NUMBER_FLAGS = sorted({action.option_strings[0] for action in build_parser()._actions
                       if action.type in (number, positive_number)} | {"--downsample-ratio"})


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stopped:  # argparse's refusals
        return int(stopped.code)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize("flag", NUMBER_FLAGS)
def test_no_number_flag_takes_nan_or_inf(capsys, tmp_path, tiny_clip, flag, value) -> None:
    out = tmp_path / "out.mp4"
    assert exit_code([str(tiny_clip), "-o", str(out), f"{flag}={value}", "--quiet"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Traceback" not in last and value in last
    assert flag in last or flag.lstrip("-").replace("-", " ") in last
    assert not out.exists()


def test_every_number_flag_is_checked_for_nan() -> None:
    """A float flag added later without the shared number type would take nan again."""
    assert {"--smooth-strength", "--smooth-motion", "--refine-eps", "--grow", "--shrink",
            "--feather", "--hard-low", "--hard-high", "--light-wrap", "--harmonize", "--fps",
            "--chunk-seconds"} <= set(NUMBER_FLAGS)
    assert not [a.option_strings for a in build_parser()._actions if a.type is float]


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize("flag", ["--max-upload-mb", "--keep-minutes"])
def test_serve_number_flags_take_no_nan_or_inf(capsys, flag, value) -> None:
    # --queue 0 is refused as well, later: the number must be refused first, by its own name
    assert exit_code(["serve", flag, value, "--queue", "0"]) == 2
    assert f"argument {flag}: expected a finite number, got '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("line", ["downsample_ratio = nan", "[post]\nrefine_eps = inf",
                                  "[post]\ntemporal_motion = inf", "[post]\ngrow = nan",
                                  "[post]\nharmonize = -inf", "crf = inf"])
def test_a_config_file_with_nan_or_inf_is_refused(capsys, tmp_path, tiny_clip, line) -> None:
    config = tmp_path / "odd.toml"
    config.write_text(line + "\n")
    out = tmp_path / "out.mp4"
    assert run(tiny_clip, "-o", out, "--config", config) == 2
    assert "finite" in one_line(capsys) or "nan" in line
    assert not out.exists()


@pytest.mark.parametrize("post", [{"refine_eps": math.inf}, {"temporal_motion": math.inf},
                                  {"feather": math.nan}, {"hard_high": math.nan}])
def test_settings_made_in_code_with_nan_or_inf_are_refused(tmp_path, tiny_clip, post) -> None:
    settings = Settings(post=PostSettings(**post))
    with pytest.raises(SettingsError):
        settings.validate()
    with pytest.raises(SettingsError):
        api.process(tiny_clip, tmp_path / "out.mp4", settings=settings)
    assert not (tmp_path / "out.mp4").exists()


# --- the Python API: wrong arguments raise ArgumentError, one rule --------------------------

def _open_live(**kwargs):
    with api.open_live(**kwargs):
        pass


@pytest.mark.parametrize("call", [
    lambda clip, out: api.process(123, out),
    lambda clip, out: api.process(clip, 5),
    lambda clip, out: api.process(clip, out, bg=5),
    lambda clip, out: api.process(clip, out, settings={"bg": "blur"}),
    lambda clip, out: api.process(clip, out, notify="loud"),
    lambda clip, out: api.process(clip, out, on_progress=3),
    lambda clip, out: api.remove_background(5),
    lambda clip, out: api.remove_background(np.zeros((48, 64, 3), np.float32)),
    lambda clip, out: api.remove_background(np.zeros((48, 64), np.uint8)),
    lambda clip, out: api.remove_background(np.zeros((48, 64, 4), np.uint8)),
    lambda clip, out: api.remove_background(np.zeros((0, 64, 3), np.uint8)),
    lambda clip, out: api.remove_background(np.zeros((48, 64, 3), np.uint8), matter="fast"),
    lambda clip, out: _open_live(source=5),
    lambda clip, out: _open_live(source=clip, bg=5),
    lambda clip, out: _open_live(source=clip, fps=math.nan),
    lambda clip, out: _open_live(source=clip, size="big"),
    lambda clip, out: _open_live(source=clip, size=(640, 0)),
    lambda clip, out: _open_live(source=clip, sinks=[5]),
    lambda clip, out: _open_live(source=clip, output=7),
], ids=["process-source", "process-target", "process-bg", "process-settings",
        "process-notify", "process-on_progress", "picture-int", "picture-float",
        "picture-grey", "picture-rgba", "picture-empty", "matter", "live-source", "live-bg",
        "live-fps", "live-size", "live-size-zero", "live-sinks", "live-output"])
def test_wrong_arguments_to_the_api_raise_one_typed_error(tmp_path, tiny_clip, call) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(ArgumentError, match=r"^api\.\w+: .* must be") as raised:
        call(tiny_clip, out)
    assert isinstance(raised.value, RtmatteError)
    assert isinstance(raised.value, TypeError) and isinstance(raised.value, ValueError)
    assert everything_under(tmp_path) == []
