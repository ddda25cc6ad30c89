"""With --post none, rtmatte's alpha equals the official ONNX model run directly.

The run is pinned to ONNX Runtime, as the direct run is: this checks that the pipeline carries
the model's matte faithfully. How far another engine that ``--backend auto`` may choose is
from ONNX Runtime is the calibration's check (tests/test_openvino.py, docs/engines.md)."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import CLIP_FRAMES, decode_rgb

from rtmatte.cli import main

pytestmark = pytest.mark.slow


def direct_alphas(model_file, frames: list[np.ndarray], ratio: float) -> list[np.ndarray]:
    """The recipe of RVM's documentation: float32 NCHW in [0, 1], states fed back."""
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    states = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    alphas = []
    for rgb in frames:
        src = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        feeds = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feeds.update({f"r{i + 1}i": s for i, s in enumerate(states)})
        _fgr, pha, *states = session.run(None, feeds)
        alphas.append(pha[0, 0])
    return alphas


def test_alpha_output_equals_a_direct_run_of_the_official_model(model_file, sample_clip,
                                                                 tmp_path) -> None:
    pattern = tmp_path / "alpha" / "%05d.png"
    assert main([str(sample_clip), "--bg", "blur", "-o", str(tmp_path / "o.mp4"), "--quiet",
                 "--post", "none", "--downsample-ratio", "0.5", "--backend", "onnx",
                 "--alpha-output", str(pattern)]) == 0
    expected = direct_alphas(model_file, decode_rgb(sample_clip), 0.5)
    assert len(expected) == CLIP_FRAMES
    worst = 0.0
    for index, reference in enumerate(expected, start=1):
        ours = cv2.imread(str(pattern).replace("%05d", f"{index:05d}"), cv2.IMREAD_UNCHANGED)
        difference = np.abs(ours / 255.0 - reference).mean()
        worst = max(worst, float(difference))
    assert worst <= 2e-3
