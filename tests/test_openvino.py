"""The OpenVINO backend against ONNX Runtime float32, on real frames of the sample clip with the
recurrent state carried, and its registry entry with and without OpenVINO installed.

Tolerances (mean |alpha difference| per frame): OpenVINO's default precision, bfloat16 on CPUs
that have it, within :data:`~rtmatte.matting.backends.calibrate.ALPHA_TOLERANCE` (measured about
2e-4 to 8e-4 at these sizes); forced to float32, within 1e-5 (measured 1e-7), tight enough that
a state dropped between frames (2e-3 to 5e-3 here) fails it. On a CPU without bfloat16 the
default is float32 and both hold alike.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import region_means, run_side_by_side

from rtmatte.bench import modelbench
from rtmatte.errors import BackendUnavailable, SettingsError
from rtmatte.matting.backends import REGISTRY, create_backend
from rtmatte.matting.backends.calibrate import ALPHA_TOLERANCE
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.samples import clip_frame

CASES = [(640, 480, 0.5), (512, 288, 0.375)]
FRAMES = 6
F32_TOLERANCE = 1e-5
FGR_TOLERANCE = 5e-3


@pytest.fixture(scope="module")
def reference(model_file):
    return OnnxBackend(model_file, cpu_threads=2)


@pytest.fixture(scope="module")
def engines(model_file):
    pytest.importorskip("openvino")
    return {precision: create_backend(model_file, "openvino", "cpu", cpu_threads=2,
                                      precision=precision)
            for precision in ("auto", "fp32")}


def _errors(pairs) -> tuple[list[float], list[float]]:
    alpha = [float(np.abs(a - ref_a).mean()) for (a, _f), (ref_a, _rf) in pairs]
    fgr = [float(np.abs(f - ref_f).mean()) for (_a, f), (_ra, ref_f) in pairs]
    return alpha, fgr


@pytest.mark.parametrize(("width", "height", "ratio"), CASES)
def test_default_precision_mattes_match_onnx_runtime_float32(engines, reference, width, height,
                                                             ratio):
    backend = engines["auto"]
    # bf16 where the CPU has it, f32 on AVX2-only CPUs (CI); f16 on some others
    assert backend.name.startswith("openvino/CPU/") and backend.precision in backend.name
    pairs, states = run_side_by_side(backend, reference, FRAMES, width, height, ratio)
    alpha_errors, fgr_errors = _errors(pairs)
    assert max(alpha_errors) <= ALPHA_TOLERANCE, alpha_errors
    assert max(fgr_errors) <= FGR_TOLERANCE, fgr_errors
    alpha, fgr = pairs[-1][0]
    assert alpha.shape == (height, width) and fgr.shape == (height, width, 3)
    assert alpha.dtype == fgr.dtype == np.float32
    person, background = region_means(alpha)
    assert person > 0.9 and background < 0.1  # a real matte, not two equal blanks
    # the state handed back has the shapes the graph makes at this size, ready for the next frame
    assert [s.shape for s in states[0]] == [s.shape for s in states[1]]


@pytest.mark.parametrize(("width", "height", "ratio"), CASES)
def test_float32_matches_onnx_runtime_closely_with_the_state_carried(engines, reference, width,
                                                                     height, ratio):
    backend = engines["fp32"]
    assert backend.name == "openvino/CPU/f32"
    pairs, _ = run_side_by_side(backend, reference, FRAMES, width, height, ratio)
    alpha_errors, fgr_errors = _errors(pairs)
    assert max(alpha_errors) <= F32_TOLERANCE, alpha_errors
    assert max(fgr_errors) <= F32_TOLERANCE, fgr_errors


def test_a_frame_from_a_fresh_state_is_not_a_later_frame(engines, reference):
    """What the tolerance above catches: the same frame without the carried state differs."""
    width, height, ratio = CASES[0]
    pairs, _ = run_side_by_side(engines["fp32"], reference, FRAMES, width, height, ratio)
    last = clip_frame(FRAMES - 1, FRAMES, width, height)
    fresh = engines["fp32"].infer(last, engines["fp32"].initial_state(), ratio)[0]
    assert float(np.abs(fresh - pairs[-1][1][0]).mean()) > 10 * F32_TOLERANCE


def test_threads_are_honoured(model_file):
    pytest.importorskip("openvino")
    backend = create_backend(model_file, "openvino", "cpu", cpu_threads=1)
    backend.infer(clip_frame(0, 1, 256, 144), backend.initial_state(), 0.5)
    [compiled] = backend._compiled.values()
    model = compiled.request.get_compiled_model()
    assert model.get_property("INFERENCE_NUM_THREADS") == 1


def test_fp16_is_refused_with_the_fix(model_file):
    pytest.importorskip("openvino")
    with pytest.raises(SettingsError, match="--precision fp32"):
        create_backend(model_file, "openvino", precision="fp16")


def test_the_bench_lists_both_precisions(model_file):
    pytest.importorskip("openvino")
    names = [variant.name for variant in modelbench.variants()]
    assert {"openvino/cpu/auto", "openvino/cpu/fp32"} <= set(names)
    variant = next(v for v in modelbench.variants() if v.name == "openvino/cpu/fp32")
    [row] = modelbench.run(model_file, [variant], [modelbench.Case(256, 144, 0.5)], frames=2,
                           warmup=1, cpu_threads=1)
    assert row.failed is None and row.skipped is None and row.infer.median_ms > 0


def test_without_openvino_the_entry_says_how_to_install_it(model_file, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "openvino" else real(name, *args))
    entry = REGISTRY["openvino"]
    assert entry.unavailable("cpu") == ("OpenVINO is not installed: "
                                        "`pip install 'rtmatte[openvino]'`")
    with pytest.raises(BackendUnavailable, match=r"rtmatte\[openvino\]"):
        create_backend(model_file, "openvino")


def test_the_engine_bench_sets_each_engine_beside_onnx_runtime(model_file):
    pytest.importorskip("openvino")
    from rtmatte.bench import engines

    chosen = engines.engines()
    assert [e.label for e in chosen][:3] == ["onnx", "openvino/auto", "openvino/fp32"]
    rows = engines.run(model_file, chosen[:3], [(256, 144, 0.5)], threads=[1], rounds=1)
    by_name = {row.result.name: row for row in rows}
    assert by_name["onnx"].speedup == 1.0 and by_name["onnx"].result.alpha_error == 0.0
    assert by_name["openvino/fp32"].result.alpha_error <= F32_TOLERANCE
    assert by_name["openvino/fp32"].result.engine == "openvino/CPU/f32"
    assert all(row.result.median_ms > 0 and row.speedup > 0 for row in rows)
    assert "openvino/CPU/f32" in engines.format_row(by_name["openvino/fp32"])
