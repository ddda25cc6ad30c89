"""`rtmatte bench` end to end on a tiny clip: every figure taken, on the backend asked for."""

from __future__ import annotations

import json

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
    assert main(["bench", "--size", "256x144", "--frames", "6", "--rounds", "1",
                 "--backend", backend, "--json", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    assert report["backend"].startswith("torch/cpu" if backend == "torch" else "onnxruntime/CPU")
    assert report["frames"] == 6
    assert all(report["fps"][name] > 0 for name in ("transcode", "model", "naive", "rtmatte"))
    assert report["fps"]["transcode"] > report["fps"]["rtmatte"]
    assert set(report["ratios"]) == {"rtmatte_vs_naive", "rtmatte_vs_model",
                                     "rtmatte_vs_transcode"}
    assert "limited by video decode/encode" in capsys.readouterr().out
