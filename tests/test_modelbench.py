"""The model-alone benchmark (tools/gpu_bench.py) on CPU, at a tiny size, with the real model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnxruntime as ort
import pytest

from rtmatte.bench import modelbench, modelreport

ROOT = Path(__file__).resolve().parents[1]
TINY = modelbench.Case(320, 192, 0.5)
GPU_PROVIDERS = {"CUDAExecutionProvider", "TensorrtExecutionProvider"}


def _torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


NO_GPU = not _torch_cuda() and not GPU_PROVIDERS & set(ort.get_available_providers())


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "tools" / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_torch_thread():
    """torch on CPU slows sharply when its threads fight other processes for two cores."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_cpu_variants_measure_real_frames(model_file: Path, one_torch_thread,
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))  # converted weights stay out of the cache
    # the backends timed bare as well as whole (OpenVINO's rows: tests/test_openvino.py)
    cpu = [v for v in modelbench.variants() if v.device == "cpu" and v.backend in ("onnx", "torch")]
    rows = modelbench.run(model_file, cpu, [TINY], frames=3, warmup=1, cpu_threads=1)
    assert [row.variant for row in rows] == ["onnx/cpu/fp32", "torch/cpu/fp32"]
    for row in rows:
        assert row.skipped is None and row.failed is None
        assert row.case == TINY and row.frames == 3 and row.clock == "wall" and not row.on_gpu
        for timing in (row.model, row.infer):
            assert timing is not None
            assert 0 < timing.p10_ms <= timing.median_ms <= timing.p90_ms
            assert timing.fps == pytest.approx(1000 / timing.median_ms)
        assert row.vs_anchor is None  # no published figure at this size
        assert json.loads(json.dumps(row.as_dict()))["model"]["fps"] > 0


@pytest.mark.skipif(not NO_GPU, reason="a GPU is present, so its variants would really run")
def test_gpu_variants_without_a_gpu_are_skipped_with_a_reason(model_file: Path):
    gpu = [v for v in modelbench.variants() if v.device == "cuda"]
    rows = modelbench.run(model_file, gpu, [TINY], frames=2)
    assert [row.variant for row in rows] == [v.name for v in gpu]
    assert all(row.case is None and row.skipped and row.on_gpu for row in rows)
    printed = [modelreport.format_row(row) for row in rows]
    assert all("skipped: " in line for line in printed)
    assert any("CUDA" in line for line in printed)


def test_anchor_ratio_and_target_only_for_gpu_rows():
    timing = modelbench.Timing.of([2.0] * 5)  # 500 fps
    gpu = modelbench.Row("torch/cuda/fp16", modelbench.DEFAULT_CASES[0], 5, model=timing,
                         on_gpu=True)
    assert gpu.anchor_fps == 172.0
    assert gpu.vs_anchor == pytest.approx(500 / 172)
    assert gpu.as_dict()["target_met"] is False  # 2.9x, short of 3x
    cpu = modelbench.Row("onnx/cpu/fp32", modelbench.DEFAULT_CASES[1], 5, model=timing)
    assert cpu.anchor_fps == 154.0
    assert "target_met" not in cpu.as_dict()


def test_tool_writes_json_and_says_when_there_is_no_gpu(tool, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "bench.json"
    code = tool.main(["--sizes", "320x192@0.5", "--frames", "3", "--warmup", "1",
                      "--backends", "onnx/cpu/fp32,cuda", "--cpu-threads", "1",
                      "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["environment"]["onnxruntime"] == ort.__version__
    measured = [row for row in data["rows"] if row["case"]]
    assert [row["variant"] for row in measured] == ["onnx/cpu/fp32"]
    assert measured[0]["case"] == {"width": 320, "height": 192, "ratio": 0.5}
    assert measured[0]["model"]["fps"] > 0 and measured[0]["infer"]["fps"] > 0
    if NO_GPU:
        assert "no CUDA GPU here: CPU figures only" in printed
        assert any("no CUDA GPU here" in note for note in data["notes"])
        assert {row["variant"] for row in data["rows"] if row["skipped"]} == {
            v.name for v in modelbench.variants() if v.device == "cuda"}


@pytest.mark.parametrize("args", [["--sizes", "bogus"], ["--sizes", "1920x1080@2"],
                                  ["--backends", "cuda,vulkan"], ["--frames", "0"]])
def test_bad_arguments_exit_2_with_one_line(tool, args: list[str],
                                            capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        tool.main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error:" in err


def test_a_size_without_ratio_gets_rvms_recommended_one(tool):
    assert tool._cases("1920x1080,3840x2160") == list(modelbench.DEFAULT_CASES)
