"""TensorRT engine keys, folders and profiles; the GPU test at the end builds and reuses an engine.

The GPU and TensorRT probes are replaced where a test needs a particular machine: they ask the
world outside rtmatte, and the key must follow whatever they answer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rtmatte.cli import main
from rtmatte.errors import BackendUnavailable, SettingsError
from rtmatte.matting.backends import create_backend
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.matting.matter import auto_downsample_ratio
from rtmatte.matting.models import trt_cache
from rtmatte.matting.models.fetch import sha256_of
from rtmatte.samples import clip_frame

MOBILENET_CHANNELS = (16, 20, 40, 64)
TENSORRT_HERE = ("TensorrtExecutionProvider" in ort.get_available_providers()
                 and trt_cache.tensorrt_found())


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An RTX 4090 with TensorRT 10.9.0, and an rtmatte cache in a temporary folder."""
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(trt_cache, "gpu_id", lambda: "nvidia-geforce-rtx-4090-sm89")
    monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.9.0")
    return tmp_path


def key_for(model: Path, height: int = 480, width: int = 640, ratio: float = 0.375,
            precision: str = "fp16") -> trt_cache.EngineKey:
    return trt_cache.engine_key(model, sha256_of(model), height, width, ratio, precision)


def test_the_key_is_stable_and_lives_under_rtmatte_home(machine: Path, model_file: Path):
    key = key_for(model_file)
    assert key_for(model_file).folder == key.folder
    assert key.folder.is_relative_to(machine / "home" / "models" / "trt")
    assert key.folder.name.startswith("640x480-ds240x180-fp16-ort")
    assert key.root.name == "nvidia-geforce-rtx-4090-sm89_trt-10.9.0"
    assert key.folder.parent.name == f"{model_file.stem}-{sha256_of(model_file)[:12]}"
    assert not key.folder.is_relative_to(model_file.parent)


@pytest.mark.parametrize("change", ["gpu", "tensorrt", "height", "width", "ratio", "precision"])
def test_the_key_changes_with_each_part(machine: Path, model_file: Path,
                                        monkeypatch: pytest.MonkeyPatch, change: str):
    before = key_for(model_file)
    if change == "gpu":
        monkeypatch.setattr(trt_cache, "gpu_id", lambda: "nvidia-h100-80gb-hbm3-sm90")
    if change == "tensorrt":
        monkeypatch.setattr(trt_cache, "tensorrt_version", lambda: "10.10.0")
    after = key_for(
        model_file,
        height=720 if change == "height" else 480,
        width=1280 if change == "width" else 640,
        ratio=0.5 if change == "ratio" else 0.375,
        precision="fp32" if change == "precision" else "fp16",
    )
    assert after.folder != before.folder
    assert (after.timing_folder == before.timing_folder) == (change not in ("gpu", "tensorrt"))


def test_the_key_changes_with_the_model_content(machine: Path):
    original, edited = machine / "a" / "rvm.onnx", machine / "b" / "rvm.onnx"
    for path, content in ((original, b"weights one"), (edited, b"weights two")):
        path.parent.mkdir()
        path.write_bytes(content)
    assert key_for(original).folder != key_for(edited).folder
    assert key_for(original).timing_folder == key_for(edited).timing_folder


def test_the_record_says_what_the_key_was_built_from(machine: Path, model_file: Path):
    key = key_for(model_file, precision="fp32")
    key.folder.mkdir(parents=True)
    record = json.loads(key.write_record().read_text())
    assert record["gpu"] == "nvidia-geforce-rtx-4090-sm89"
    assert record["tensorrt"] == "10.9.0"
    assert record["model_sha256"] == sha256_of(model_file)
    assert (record["frame_size"], record["downsampled_size"]) == ("640x480", "240x180")
    assert record["precision"] == "fp32"
    assert record["onnxruntime"] == ort.__version__
    assert "TensorRT 10.9.0" in key.describe() and "640x480" in key.describe()


@pytest.mark.skipif(os.name == "nt", reason="the stand-in nvidia-smi is a shell script")
def test_the_gpu_comes_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA GeForce RTX 4090, 8.9'\necho 'NVIDIA T4, 7.5'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert trt_cache.gpu_id() == "nvidia-geforce-rtx-4090-sm89"


def test_no_nvidia_smi_is_no_gpu_rather_than_an_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert trt_cache._gpu_from_nvidia_smi() is None


@pytest.mark.parametrize(("number", "version"), [(8601, "8.6.1"), (8504, "8.5.4"),
                                                 (100900, "10.9.0"), (101602, "10.16.2")])
def test_libnvinfer_version_numbers(number: int, version: str):
    assert trt_cache._decode_version(number) == version


@pytest.mark.parametrize(("height", "width", "ratio"), [
    (480, 640, 0.375), (480, 640, auto_downsample_ratio(480, 640)), (479, 641, 0.3),
    (720, 1280, auto_downsample_ratio(720, 1280)), (100, 100, 0.29), (123, 77, 0.9),
])
def test_profile_matches_the_states_the_model_produces(model_file: Path, height: int, width: int,
                                                       ratio: float):
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    zeros = np.zeros((1, 1, 1, 1), np.float32)
    states = session.run(["r1o", "r2o", "r3o", "r4o"], {
        "src": np.zeros((1, 3, height, width), np.float32),
        "r1i": zeros, "r2i": zeros, "r3i": zeros, "r4i": zeros,
        "downsample_ratio": np.array([ratio], np.float32),
    })
    produced = [tuple(state.shape) for state in states]
    assert trt_cache.state_shapes(height, width, ratio, MOBILENET_CHANNELS) == produced
    expected = [f"src:1x3x{height}x{width}"] + [
        f"r{index}i:{'x'.join(map(str, shape))}" for index, shape in enumerate(produced, 1)
    ]
    assert trt_cache.profile_shapes(height, width, ratio, MOBILENET_CHANNELS) == ",".join(expected)


def test_full_size_zero_states_start_a_clip_like_1x1x1x1_zeros(model_file: Path):
    """TensorRT's first frame feeds zeros of the pinned state shapes; the mattes must not change."""
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    rgb = clip_frame(0, 1, 320, 240)
    src = (rgb.transpose(2, 0, 1)[np.newaxis] / 255.0).astype(np.float32)
    ratio = np.array([0.5], np.float32)
    tiny = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    full = [np.zeros(s, np.float32)
            for s in trt_cache.state_shapes(240, 320, 0.5, MOBILENET_CHANNELS)]
    names = ["r1i", "r2i", "r3i", "r4i"]
    feeds = {"src": src, "downsample_ratio": ratio}
    broadcast = session.run(None, {**feeds, **dict(zip(names, tiny, strict=True))})
    pinned = session.run(None, {**feeds, **dict(zip(names, full, strict=True))})
    for a, b in zip(broadcast, pinned, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_precision_is_refused(model_file: Path):
    with pytest.raises(SettingsError, match="precision"):
        OnnxBackend(model_file, precision="int8")


@pytest.mark.skipif(TENSORRT_HERE, reason="TensorRT is installed here")
def test_tensorrt_without_its_provider_exits_2_with_the_reason(capsys, sample_clip: Path,
                                                              tmp_path: Path):
    out = tmp_path / "out.mp4"
    code = main([str(sample_clip), "--backend", "tensorrt", "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "TensorrtExecutionProvider is not available" in err
    assert not out.exists()


@pytest.mark.skipif(TENSORRT_HERE, reason="TensorRT is installed here")
def test_a_tensorrt_provider_without_tensorrt(model_file: Path, monkeypatch: pytest.MonkeyPatch):
    """onnxruntime-gpu lists its TensorRT provider whether or not TensorRT is installed."""
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="pip install tensorrt"):
        create_backend(model_file, backend="tensorrt")
    # auto falls back to the CPU engine measured fastest here (docs/engines.md)
    assert create_backend(model_file).name.startswith(("onnxruntime/CPU", "openvino/CPU"))


@pytest.mark.gpu
@pytest.mark.skipif(not TENSORRT_HERE, reason="needs ONNX Runtime's TensorRT provider and TensorRT")
def test_an_engine_is_built_once_per_key_and_reused(model_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))
    height, width, count = 480, 640, 12
    ratio = auto_downsample_ratio(height, width)
    frames = [clip_frame(index, count, width, height) for index in range(count)]

    def run(backend) -> tuple[float, list[np.ndarray]]:
        start = time.perf_counter()
        state, alphas = backend.initial_state(), []
        for rgb in frames:
            alpha, _, state = backend.infer(rgb, state, ratio)
            alphas.append(alpha)
        return time.perf_counter() - start, alphas

    cold_s, alphas = run(create_backend(model_file, backend="tensorrt"))
    key = trt_cache.engine_key(model_file, sha256_of(model_file), height, width, ratio, "fp16")
    engines = {path: path.stat().st_mtime_ns for path in key.folder.glob("*.engine")}
    assert engines, f"no engine in {key.folder}: {sorted(os.listdir(key.folder))}"
    assert (key.folder / "key.json").is_file()
    assert any(key.timing_folder.iterdir())

    warm_s, _ = run(create_backend(model_file, backend="tensorrt"))
    assert {path: path.stat().st_mtime_ns for path in key.folder.glob("*.engine")} == engines
    assert warm_s < cold_s / 2, (cold_s, warm_s)

    _, reference = run(OnnxBackend(model_file))
    for got, want in zip(alphas, reference, strict=True):
        assert np.abs(got - want).mean() <= 5e-3
