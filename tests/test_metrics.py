"""The metrics on hand-made mattes whose scores can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from rtmatte.evaluation import metrics


def _square(size: int = 32, lo: int = 8, hi: int = 24, value: float = 1.0) -> np.ndarray:
    alpha = np.zeros((size, size), np.float32)
    alpha[lo:hi, lo:hi] = value
    return alpha


def test_identical_mattes_score_zero() -> None:
    true = _square()
    assert metrics.image_scores(true, true) == pytest.approx(
        {"mad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0})


def test_mad_and_mse_scaled_like_the_paper() -> None:
    true = np.zeros((10, 10), np.float32)
    pred = true.copy()
    pred[:5] = 0.2  # half the pixels off by 0.2
    assert metrics.mad(pred, true) == pytest.approx(0.1 * 1e3)
    assert metrics.mse(pred, true) == pytest.approx(0.02 * 1e3)


def test_grad_sees_a_blurred_edge_but_not_a_constant_offset() -> None:
    true = _square()
    blurred = true.copy()
    blurred[7:25, 7:25] = np.maximum(blurred[7:25, 7:25], 0.5)
    assert metrics.grad(blurred, true) > 0
    # min-max normalisation: a matte that is uniformly scaled has the same gradients
    assert metrics.grad(true * 0.5, true) == pytest.approx(0.0, abs=1e-9)


def test_conn_counts_a_detached_island() -> None:
    true = _square()
    pred = true.copy()
    pred[0:3, 0:3] = 1.0  # a solid island away from the subject
    # each island pixel: true phi 1, predicted level 0 so phi = 1 - 1 = 0 → |diff| 1 per pixel
    assert metrics.conn(pred, true) == pytest.approx(9 * 1e-3)


def test_dtssd_zero_for_the_true_motion_and_rms_otherwise() -> None:
    a, b = _square(lo=8, hi=24), _square(lo=9, hi=25)
    assert metrics.dtssd(b, a, b, a) == pytest.approx(0.0)
    still = np.zeros((10, 10), np.float32)
    jump = still + 0.1
    assert metrics.dtssd(jump, still, still, still) == pytest.approx(0.1 * 1e2)


def test_flicker_only_counts_static_pixels() -> None:
    prev = np.zeros((4, 4), np.float32)
    pred = prev.copy()
    pred[:, :2] = 0.5  # changes in the moving half only
    static = np.zeros((4, 4), bool)
    static[:, 2:] = True
    assert metrics.flicker(pred, prev, static) == pytest.approx(0.0)
    assert metrics.flicker(pred, prev, ~static) == pytest.approx(0.5 * 1e3)
    assert metrics.flicker(pred, prev, np.zeros((4, 4), bool)) is None


def test_clip_scores_start_temporal_metrics_at_the_second_frame() -> None:
    scores = metrics.ClipScores()
    true = _square()
    scores.add(true, true, None)
    scores.add(true, true, np.ones_like(true, bool))
    summary = scores.summary()
    assert len(scores.values["mad"]) == 2 and len(scores.values["dtssd"]) == 1
    assert summary["flicker"] == 0.0
