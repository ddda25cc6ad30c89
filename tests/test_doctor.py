"""``rtmatte doctor`` on this machine, and its reading of video4linux devices."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rtmatte import cli, doctor


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
