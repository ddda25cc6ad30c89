"""The guided filter's full-resolution step done on the host gives what the whole graph gives."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import run_side_by_side
from onnx import TensorProto, helper

from rtmatte.matting.backends.coarse_graph import coarse_path, ensure_coarse
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.samples import clip_frame


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "models"


@pytest.mark.parametrize(("width", "height", "ratio"),
                         [(321, 243, 0.4), (640, 360, 0.25), (160, 120, 1.0)])
def test_host_step_matches_the_whole_graph(model_file, home, width, height, ratio) -> None:
    host = OnnxBackend(model_file)
    assert host.host_refine
    whole = OnnxBackend(model_file, host_refine=False)
    pairs, (host_state, whole_state) = run_side_by_side(host, whole, 5, width, height, ratio)
    for (alpha, fgr), (ref_alpha, ref_fgr) in pairs:
        assert alpha.shape == (height, width) and alpha.dtype == np.float32
        assert fgr.shape == (height, width, 3) and fgr.dtype == np.float32
        assert fgr.flags.c_contiguous
        assert np.abs(alpha - ref_alpha).max() <= 1e-4
        assert np.abs(fgr - ref_fgr).max() <= 1e-4
    for ours, reference in zip(host_state, whole_state, strict=True):
        assert np.array_equal(ours, reference)


def test_coarse_graph_is_cached_and_smaller(model_file, home) -> None:
    coarse = ensure_coarse(model_file)
    assert coarse == coarse_path(model_file) and coarse.parent == home
    graph = onnx.load(str(coarse)).graph
    assert [o.name for o in graph.output] == ["gain", "offset", "r1o", "r2o", "r3o", "r4o"]
    full = onnx.load(str(model_file)).graph
    assert 0 < len(full.node) - len(graph.node) < 40  # only the full-resolution tail is gone
    stamp = coarse.stat().st_mtime_ns
    assert ensure_coarse(model_file) == coarse and coarse.stat().st_mtime_ns == stamp


def test_an_exported_graph_is_taken_over_too(model_file, home, tmp_path) -> None:
    pytest.importorskip("torch")
    from rtmatte.matting.models.export import export_onnx

    exported = export_onnx(model_file, tmp_path / "baked.onnx", 0.5)
    host, whole = OnnxBackend(exported), OnnxBackend(exported, host_refine=False)
    assert host.host_refine and host.baked_ratio == 0.5
    pairs, _ = run_side_by_side(host, whole, 3, 288, 208, 0.5)
    for (alpha, fgr), (ref_alpha, ref_fgr) in pairs:
        assert np.abs(alpha - ref_alpha).max() <= 1e-4
        assert np.abs(fgr - ref_fgr).max() <= 1e-4


def _grey_graph(path, element: int) -> None:
    """RVM's inputs and outputs, but alpha is just the grey level, with the frame and states in
    ``element`` (float or float16; the ratio stays float, as in RVM's float16 release)."""
    states = [f"r{i}" for i in range(1, 5)]
    nodes = [helper.make_node("Identity", ["src"], ["fgr"]),
             helper.make_node("Cast", ["src"], ["src32"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["src32"], ["grey"], axes=[1], keepdims=1),
             helper.make_node("Cast", ["grey"], ["pha"], to=element)]
    nodes += [helper.make_node("Identity", [f"{s}i"], [f"{s}o"]) for s in states]
    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, "not-a-guided-filter",
        [tensor("src", element, [1, 3, None, None]),
         *[tensor(f"{s}i", element, None) for s in states],
         tensor("downsample_ratio", TensorProto.FLOAT, [1])],
        [tensor("fgr", element, None), tensor("pha", element, None),
         *[tensor(f"{s}o", element, None) for s in states]],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), str(path))


@pytest.mark.parametrize(("element", "tolerance"), [(TensorProto.FLOAT, 1e-6),
                                                    (TensorProto.FLOAT16, 2e-3)])
def test_a_graph_of_another_shape_runs_whole(home, tmp_path, element, tolerance) -> None:
    path = tmp_path / "grey.onnx"
    _grey_graph(path, element)
    backend = OnnxBackend(path)
    assert not backend.host_refine and not coarse_path(path).exists()
    rgb = clip_frame(0, 1, 64, 48)
    state = backend.initial_state()
    for _ in range(2):  # the second run takes the first one's state back
        alpha, fgr, state = backend.infer(rgb, state, 0.5)
        assert alpha.dtype == np.float32 and fgr.dtype == np.float32
        assert fgr.shape == (48, 64, 3) and fgr.flags.c_contiguous
        assert np.allclose(alpha, rgb.mean(axis=2) / 255.0, atol=tolerance)
        assert np.allclose(fgr, rgb / 255.0, atol=tolerance)
    expected = np.float16 if element == TensorProto.FLOAT16 else np.float32
    assert all(s.dtype == expected for s in state)
