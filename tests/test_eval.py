"""A small run of the evaluation harness with the real model on the registry-built clips.

The bounds are the measured scores plus a margin, so a change that makes mattes worse fails
here. Measured on 2 clips × 12 frames at 384x216 (onnxruntime CPU, RVM MobileNetV3).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rtmatte import api
from rtmatte.evaluation.harness import EvalResult, Variant, evaluate_clips
from rtmatte.evaluation.material import CI_CLIPS
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.post import PostSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result() -> EvalResult:
    variants = [Variant("none", PostSettings(enabled=False)), Variant("default", PostSettings())]
    return evaluate_clips(api.open_matter(), load_person_layer(), variants, CI_CLIPS, 12,
                          (384, 216))


def test_model_and_defaults_stay_under_recorded_bounds(result: EvalResult) -> None:
    scores = result.overall("default")
    assert scores["mad"] < 2.8  # measured 2.25
    assert scores["mse"] < 0.75  # measured 0.56
    assert scores["grad"] < 0.45  # measured 0.34
    assert scores["conn"] < 0.21  # measured 0.16
    assert scores["dtssd"] < 2.9  # measured 2.33
    assert scores["flicker"] < 0.15  # measured 0.10
    assert result.overall("none")["mad"] < 2.8  # measured 2.24


def test_defaults_cut_flicker_without_costing_accuracy(result: EvalResult) -> None:
    plain, default = result.overall("none"), result.overall("default")
    assert default["flicker"] < 0.75 * plain["flicker"]  # measured 0.10 vs 0.19
    assert default["dtssd"] < plain["dtssd"]  # measured 2.33 vs 2.39
    assert default["mad"] <= 1.05 * plain["mad"]  # the bound; measured +0.1%


def test_eval_tool_writes_json_and_side_by_side_frames(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("eval_tool", ROOT / "tools" / "eval.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / "scores.json"
    frames = tmp_path / "frames"
    code = tool.main(["--clips", "coffee-pan", "--frames", "3", "--size", "192x108",
                      "--json", str(out), "--save-frames", str(frames), "--no-shared",
                      "--hard"])
    assert code == 0
    data = json.loads(out.read_text())
    assert set(data["variants"]) == {"flags"}
    assert data["variants"]["flags"]["overall"]["mad"] > 0
    pictures = sorted((frames / "flags" / "coffee-pan").glob("*.png"))
    assert len(pictures) == 3
