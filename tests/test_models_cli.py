"""`rtmatte models convert/export`, and running an exported graph with its ratio baked in."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CLIP_FRAMES, stream_summary

from rtmatte.cli import main
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.samples import clip_frame

pytest.importorskip("torch")


def test_exported_graph_runs_in_the_main_job_with_its_baked_ratio(model_file, sample_clip,
                                                                   tmp_path, capsys) -> None:
    exported = tmp_path / "rvm_r05.onnx"
    assert main(["models", "export", str(exported), "--ratio", "0.5"]) == 0
    assert str(exported) in capsys.readouterr().out
    baked = OnnxBackend(exported)
    assert baked.baked_ratio == pytest.approx(0.5)
    official = OnnxBackend(model_file)
    rgb = clip_frame(3, 24, 320, 240)
    ours, _, _ = baked.infer(rgb, baked.initial_state(), 0.9)  # a caller's ratio is ignored
    theirs, _, _ = official.infer(rgb, official.initial_state(), 0.5)
    assert np.abs(ours - theirs).max() < 1e-3
    out = tmp_path / "o.mp4"
    stats = tmp_path / "s.json"
    assert main([str(sample_clip), "--model", str(exported), "-o", str(out), "--quiet",
                 "--stats", str(stats)]) == 0
    assert stream_summary(out)["frames"] == CLIP_FRAMES
    assert '"downsample_ratio": 0.5' in stats.read_text()


def test_convert_prints_the_cached_weights(model_file, capsys) -> None:
    assert main(["models", "convert"]) == 0
    assert capsys.readouterr().out.strip().endswith(".pt")
