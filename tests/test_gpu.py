"""The CUDA (float16, channels-last) torch backend against the float32 CPU one, on real frames."""

from __future__ import annotations

# ruff: noqa: E402 - the imports below need torch, which importorskip checks first
from pathlib import Path

import numpy as np
import pytest
from conftest import run_side_by_side

torch = pytest.importorskip("torch")

from rtmatte.matting.backends import create_backend
from rtmatte.matting.backends.torch import TorchBackend
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.samples import clip_frame

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory):
    path = ensure_model("rvm-mobilenetv3")
    with pytest.MonkeyPatch.context() as patch:  # converted weights stay out of the user's cache
        patch.setenv("RTMATTE_HOME", str(tmp_path_factory.mktemp("rtmatte-home")))
        yield path


def test_cuda_fp16_agrees_with_cpu_fp32(onnx_path: Path):
    gpu = TorchBackend(onnx_path, device="cuda")
    assert gpu.name == "torch/cuda/fp16"
    pairs, (gpu_state, _) = run_side_by_side(gpu, TorchBackend(onnx_path, device="cpu"),
                                             24, 640, 480, 0.375)
    for (gpu_alpha, gpu_fgr), (cpu_alpha, cpu_fgr) in pairs:
        assert gpu_alpha.dtype == np.float32 and gpu_alpha.shape == (480, 640)
        assert gpu_fgr.dtype == np.float32 and gpu_fgr.shape == (480, 640, 3)
        assert np.abs(gpu_alpha - cpu_alpha).mean() <= 5e-3
        assert np.abs(gpu_fgr - cpu_fgr).mean() <= 5e-3
    assert all(s.is_cuda and s.dtype == torch.float16 for s in gpu_state)


def test_auto_device_takes_the_gpu(onnx_path: Path):
    assert TorchBackend(onnx_path, device="auto").name == "torch/cuda/fp16"
    assert create_backend(onnx_path, backend="torch", device="cuda").name == "torch/cuda/fp16"
    full = create_backend(onnx_path, backend="torch", device="cuda", precision="fp32")
    assert full.name == "torch/cuda/fp32"
    alpha, _, state = full.infer(clip_frame(0, 1, 320, 240), full.initial_state(), 0.5)
    assert alpha.shape == (240, 320) and all(s.dtype == torch.float32 for s in state)


def test_cuda_graph_replays_match_eager_runs(onnx_path: Path):
    graphed = TorchBackend(onnx_path, device="cuda")
    eager = TorchBackend(onnx_path, device="cuda")
    eager.graphs = None
    pairs, _ = run_side_by_side(graphed, eager, 12, 640, 480, 0.375)
    for (alpha, fgr), (ref_alpha, ref_fgr) in pairs:
        assert np.abs(alpha - ref_alpha).max() <= 1e-2
        assert np.abs(fgr - ref_fgr).max() <= 1e-2
    assert graphed.graphs is not None and graphed.graphs.disabled is None
    assert len(graphed.graphs) == 1
    # a new size records a second graph; its first frame (fresh state) runs eagerly
    state = graphed.initial_state()
    for index in range(3):
        alpha, _, state = graphed.infer(clip_frame(index, 3, 320, 240), state, 0.5)
    assert alpha.shape == (240, 320) and len(graphed.graphs) == 2
