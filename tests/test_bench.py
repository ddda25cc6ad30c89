"""`rtmatte bench` end to end on a tiny clip: every figure taken, on the backend asked for, and
the live crop's part (the crop against the whole frame on the webcam clip with exact alpha)."""

from __future__ import annotations

import json
import math

import onnx
import pytest

from rtmatte.cli import main


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_bench_reports_every_figure(backend, model_file, tmp_path, capsys, monkeypatch,
                                   request) -> None:
    if backend == "torch":
        torch = pytest.importorskip("torch")
        monkeypatch.setenv("RTMATTE_HOME", str(tmp_path / "home"))  # converted weights go here
        # one thread: on a busy machine PyTorch's thread barriers can cost 5x the time
        threads = torch.get_num_threads()
        request.addfinalizer(lambda: torch.set_num_threads(threads))
        torch.set_num_threads(1)
    report_file = tmp_path / "bench.json"
    # the live crop's part is left out here (its own test below; under RTMATTE_HOME the torch
    # run would derive the clip's person layer afresh)
    assert main(["bench", "--size", "256x144", "--frames", "6", "--rounds", "1",
                 "--backend", backend, "--json", str(report_file), "--skip-live-crop"]) == 0
    report = json.loads(report_file.read_text())
    assert report["backend"].startswith("torch/cpu" if backend == "torch" else "onnxruntime/CPU")
    assert report["frames"] == 6
    assert all(report["fps"][name] > 0 for name in ("transcode", "model", "naive", "rtmatte"))
    assert report["fps"]["transcode"] > report["fps"]["rtmatte"]
    assert set(report["ratios"]) == {"rtmatte_vs_naive", "rtmatte_vs_model",
                                     "rtmatte_vs_transcode"}
    printed = capsys.readouterr().out
    assert "limited by video decode/encode" in printed
    assert report["live_crop"] is None and "live crop" not in printed


def test_bench_measures_the_live_crop_against_the_whole_frame(model_file, tmp_path,
                                                              capsys) -> None:
    """Both ways measured in the bench's interleaved rounds, at the same working size: times,
    the crop's share of the frame, MAD and dtSSD against the exact alpha, and their ratios."""
    report_file = tmp_path / "bench.json"
    assert main(["bench", "--size", "320x180", "--frames", "8", "--rounds", "2",
                 "--backend", "onnx", "--json", str(report_file)]) == 0
    crop = json.loads(report_file.read_text())["live_crop"]
    assert crop["off"] is None and crop["clip"] == "webcam-shelves" and crop["rounds"] == 2
    assert crop["size"] == "320x180" and crop["frames"] == 8
    assert crop["backend"].startswith("onnxruntime/CPU")
    assert crop["internal"] == 256 and crop["ratio"] == 0.8  # 256 px on the long side
    rows = (crop["crop"], crop["whole"])
    for row in rows:
        assert row["ms_per_frame"] > 0
        assert all(math.isfinite(row[name]) and row[name] > 0 for name in ("mad", "dtssd"))
    assert 0 < crop["crop"]["share"] <= 1 and crop["whole"]["share"] == 1
    assert crop["whole"]["scout_runs"] == 0
    for name, figure in (("time", "ms_per_frame"), ("mad", "mad"), ("dtssd", "dtssd")):
        assert crop["ratios"][name] == round(crop["crop"][figure] / crop["whole"][figure], 3)
    printed = capsys.readouterr().out
    assert "live crop: clip webcam-shelves 320x180, 8 frames" in printed
    assert "crop / whole: time " in printed


def test_bench_says_in_one_line_where_the_live_path_has_no_crop(model_file, tmp_path,
                                                               capsys) -> None:
    """A model whose frame input is pinned to one size (an export for one engine) gets the whole
    frame on the live path: one line says so, and no figures are made up."""
    graph = onnx.load(str(model_file))
    src = next(tensor for tensor in graph.graph.input if tensor.name == "src")
    for dim, value in zip(src.type.tensor_type.shape.dim, (1, 3, 144, 256), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    pinned = tmp_path / "rvm_256x144.onnx"
    onnx.save(graph, str(pinned))
    report_file = tmp_path / "bench.json"
    assert main(["bench", "--size", "256x144", "--frames", "4", "--rounds", "1",
                 "--backend", "onnx", "--model", str(pinned), "--json", str(report_file)]) == 0
    crop = json.loads(report_file.read_text())["live_crop"]
    assert crop["crop"] is None and crop["whole"] is None and crop["rounds"] == 0
    said = [line for line in capsys.readouterr().out.splitlines() if "crop is off" in line]
    assert said == ["  the crop is off here, the live path mattes the whole frame: the model was "
                    "exported for 256x144 frames only"]
    assert crop["off"] == said[0].strip()
