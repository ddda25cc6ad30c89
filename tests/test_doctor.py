"""``rtmatte doctor`` on this machine, and its reading of video4linux devices."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from rtmatte import cli
from rtmatte.diagnostics import doctor


def test_doctor_reports_every_area(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["doctor", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    areas = {c["area"] for c in checks}
    assert {"rtmatte", "inference", "model", "gpu", "camera", "virtual camera",
            "preview"} <= areas
    inference = next(c for c in checks if c["area"] == "inference")
    assert inference["ok"] and "CPUExecutionProvider" in inference["detail"]


def test_doctor_text_says_how_to_fix(capsys: pytest.CaptureFixture) -> None:
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "virtual camera" in out
    failing = [line for line in out.splitlines() if line.startswith("--")]
    assert all(len(line) > 25 for line in failing)  # a failure always comes with a detail


def _node(root: Path, name: str, label: str, index: int = 0) -> None:
    node = root / name
    node.mkdir()
    (node / "name").write_text(label + "\n")
    (node / "index").write_text(f"{index}\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="video4linux is Linux")
def test_cameras_and_loopback_devices_are_told_apart(tmp_path: Path, monkeypatch) -> None:
    _node(tmp_path, "video0", "Integrated Camera: Integrated C")
    _node(tmp_path, "video1", "Integrated Camera: Integrated C", index=1)  # metadata node
    _node(tmp_path, "video10", "rtmatte")
    monkeypatch.setattr(doctor, "_V4L", tmp_path)
    cameras = doctor.check_cameras(probe=False)
    assert [c.detail for c in cameras] == ["/dev/video0 (Integrated Camera: Integrated C)"]
    vcam = doctor.check_virtual_camera()
    assert any(c.ok and "--vcam-device /dev/video10" in c.detail for c in vcam)
    monkeypatch.setattr(doctor, "_V4L", tmp_path / "none")
    vcam = doctor.check_virtual_camera()
    assert any(c.ok is False and "modprobe v4l2loopback" in c.detail for c in vcam)
    assert doctor.check_cameras(probe=False)[0].ok is False


def test_doctor_names_what_auto_runs(monkeypatch) -> None:
    import onnxruntime as ort

    from rtmatte.matting.backends import gpu
    from rtmatte.matting.models import trt_cache

    def auto_line() -> str:
        return next(c.detail for c in doctor.check_backends() if "--backend auto" in c.detail)

    monkeypatch.setattr(gpu, "torch_cuda_available", lambda: False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    # on the CPU, by measurement among the engines installed (tests/test_calibration.py)
    assert "on the CPU" in auto_line()
    gpu_build = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: gpu_build)
    monkeypatch.setattr(trt_cache, "tensorrt_found", lambda: False)
    assert "ONNX Runtime on CUDA" in auto_line()  # the provider is listed, TensorRT is not here
    monkeypatch.setattr(trt_cache, "tensorrt_found", lambda: True)
    assert "TensorRT" in auto_line()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a shell-script nvidia-smi")
def test_a_gpu_that_pytorch_can_use_is_not_reported_unusable(tmp_path, monkeypatch) -> None:
    import onnxruntime as ort

    from rtmatte.matting.backends import gpu

    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 550.54.15'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(gpu, "torch_cuda_available", lambda: False)
    [check] = doctor.check_gpu()
    assert check.ok is False and "pip install onnxruntime-gpu" in check.detail
    monkeypatch.setattr(gpu, "torch_cuda_available", lambda: True)
    [check] = doctor.check_gpu()
    assert check.ok and "NVIDIA H100" in check.detail and "PyTorch can use it" in check.detail
