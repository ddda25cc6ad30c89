"""``--backend auto`` on a CPU: chosen by measurement on real frames, never a wrong matte, cached.

The contenders here are the real ONNX Runtime backend behind wrappers that make one of them
slower (by sleeping, which a timing notices and a matte does not) or wrong, so these tests run
alike with or without OpenVINO and on any CPU. The last test runs the real calibration among the
engines installed and checks that whatever it chose mattes within the stated tolerance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import onnx as onnx_format
import pytest

from rtmatte import api
from rtmatte.diagnostics import doctor
from rtmatte.matting.backends import Request, cpu_contenders, create_backend
from rtmatte.matting.backends import calibrate as cal
from rtmatte.matting.backends.onnx import OnnxBackend
from rtmatte.samples import clip_frame
from rtmatte.settings import Settings

#: far above the frame-to-frame noise of a loaded 2-core machine, so the tests cannot flake
SLOWER_S = 0.1


class _Wrapped:
    """The real backend, made slower or wrong on purpose."""

    def __init__(self, inner: OnnxBackend, delay_s: float = 0.0, alpha_shift: float = 0.0,
                 forget_state: bool = False) -> None:
        self.inner, self.delay_s, self.alpha_shift = inner, delay_s, alpha_shift
        self.forget_state = forget_state
        self.name = "wrapped/" + inner.name
        self.whole_frame_only = inner.whole_frame_only

    def initial_state(self):
        return self.inner.initial_state()

    def infer(self, rgb, state, downsample_ratio):
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.forget_state:
            state = self.inner.initial_state()
        alpha, fgr, state = self.inner.infer(rgb, state, downsample_ratio)
        return np.clip(alpha + self.alpha_shift, 0, 1), fgr, state


@pytest.fixture(autouse=True)
def cached_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))


@pytest.fixture
def small(monkeypatch):
    """A smaller case for the wrapped contenders: the same code, a quarter of the pixels."""
    monkeypatch.setattr(cal, "WIDTH", 320)
    monkeypatch.setattr(cal, "HEIGHT", 240)
    monkeypatch.setattr(cal, "ROUNDS", 3)


@pytest.fixture(scope="module")
def shared_onnx(model_file) -> OnnxBackend:
    return OnnxBackend(model_file, cpu_threads=1)


@pytest.fixture
def onnx(shared_onnx, small) -> OnnxBackend:
    return shared_onnx


def _key(**changes) -> dict:
    fields = {"engines": {"onnxruntime": "1", "fake": "1"}, "contenders": ["onnx", "other"],
              "model_sha256": "0" * 64, "threads": 1, "precision": "auto"} | changes
    return cal.make_key(**fields)


def _contenders(onnx, reference: dict | None = None, other: dict | None = None, counts=None):
    def build(name: str, options: dict):
        def make():
            if counts is not None:
                counts[name] = counts.get(name, 0) + 1
            return _Wrapped(onnx, **options)
        return cal.Contender(name, make)

    return [build("onnx", reference or {}), build("other", other or {})]


def test_a_slower_contender_is_not_chosen(onnx):
    calibration, built = cal.calibrate(_contenders(onnx, other={"delay_s": SLOWER_S}), _key())
    assert calibration.chosen == "onnx" and not calibration.from_cache
    reference, other = calibration.results
    assert other.median_ms > reference.median_ms
    assert other.alpha_error == 0 and other.valid  # as right, only slower
    assert set(built) == {"onnx", "other"}


def test_a_faster_contender_replaces_the_default(onnx):
    calibration, built = cal.calibrate(_contenders(onnx, reference={"delay_s": SLOWER_S}), _key())
    assert calibration.chosen == "other"
    assert built["other"].delay_s == 0  # the instance measured is handed back, not rebuilt
    assert "other" in calibration.reason() and "ms" in calibration.reason()


@pytest.mark.parametrize("wrong", [{"alpha_shift": 0.01}, {"forget_state": True}])
def test_a_faster_contender_with_wrong_mattes_is_never_chosen(onnx, wrong):
    calibration, _ = cal.calibrate(_contenders(onnx, reference={"delay_s": SLOWER_S},
                                               other=wrong), _key())
    assert calibration.chosen == "onnx"
    other = calibration.result("other")
    assert other.median_ms < calibration.result("onnx").median_ms  # faster, and still refused
    assert other.alpha_error > cal.ALPHA_TOLERANCE and not other.valid
    assert "mattes differ" in calibration.reason()


def test_a_contender_that_fails_is_passed_over(onnx):
    def broken():
        raise RuntimeError("no such instruction\nsecond line")

    contenders = [_contenders(onnx)[0], cal.Contender("other", broken)]
    calibration, built = cal.calibrate(contenders, _key())
    assert calibration.chosen == "onnx" and set(built) == {"onnx"}
    assert calibration.result("other").failed == "RuntimeError: no such instruction"


def test_the_second_call_reads_the_cache_and_fresh_measures_again(onnx):
    counts: dict[str, int] = {}
    contenders = _contenders(onnx, reference={"delay_s": SLOWER_S}, counts=counts)
    first, _ = cal.calibrate(contenders, _key())
    second, built = cal.calibrate(contenders, _key())
    assert second.from_cache and built == {} and counts == {"onnx": 1, "other": 1}
    assert second == first and second.chosen == "other"
    assert "cached from" in second.reason()
    third, _ = cal.calibrate(contenders, _key(), fresh=True)
    assert not third.from_cache and counts == {"onnx": 2, "other": 2}
    # the file is whole JSON with its key, and nothing else is left in the folder
    [kept] = cal.cache_file(_key()).parent.iterdir()
    assert json.loads(kept.read_text())["key"] == _key()


def test_a_new_engine_version_or_model_is_a_new_key(onnx, model_file, monkeypatch):
    entries = cpu_contenders(among=("onnx",))
    request = Request(model_file, "cpu", cpu_threads=1)
    key = cal.calibration_key(request, entries)
    assert key["engines"]["onnxruntime"] == cal.package_version("onnxruntime")
    assert key["model_sha256"] == cal.sha256_of(model_file) and key["threads"] == 1
    real = cal.package_version
    monkeypatch.setattr(cal, "package_version",
                        lambda package: "99.0" if package == "onnxruntime" else real(package))
    newer = cal.calibration_key(request, entries)
    assert newer != key and cal.cache_file(newer) != cal.cache_file(key)
    counts: dict[str, int] = {}
    cal.calibrate(_contenders(onnx, counts=counts), key)
    assert cal.calibrate(_contenders(onnx, counts=counts), newer)[0].from_cache is False
    assert counts == {"onnx": 2, "other": 2}
    assert cal.load_cached(key) is not None  # the old key's choice is still there, untouched


def test_the_cpu_identity_names_the_flags_engines_use():
    identity = cal.cpu_identity()
    assert identity["model"] and identity["machine"]
    assert all(cal._ENGINE_FLAGS.match(flag) for flag in identity["flags"])


def test_auto_runs_the_calibrated_choice_within_tolerance(model_file):
    """The real thing, at the real case: every CPU engine installed, measured; the one auto
    builds is the one the calibration chose, and its mattes are within the tolerance of ONNX
    Runtime float32 on the frames it was checked on."""
    entries = cpu_contenders()
    request = Request(model_file, "cpu", cpu_threads=1)
    backend = create_backend(model_file, device="cpu", cpu_threads=1)
    calibration = cal.cpu_calibration(request, entries, measure=False)
    if len(entries) == 1:  # ONNX Runtime alone: nothing to measure it against
        assert calibration is None and backend.name.startswith("onnxruntime")
        return
    assert calibration is not None and calibration.from_cache
    assert [r.name for r in calibration.results] == [
        contender.name for contender in cal.contenders_for(request, entries)]
    chosen = calibration.result(calibration.chosen)
    assert backend.name == chosen.engine and chosen.valid
    reference = OnnxBackend(model_file, cpu_threads=1)
    states = [backend.initial_state(), reference.initial_state()]
    for index in range(cal.CHECK_FRAMES):
        rgb = clip_frame(index, cal.CHECK_FRAMES, cal.WIDTH, cal.HEIGHT)
        alpha, _, states[0] = backend.infer(rgb, states[0], cal.RATIO)
        ref, _, states[1] = reference.infer(rgb, states[1], cal.RATIO)
        assert float(np.abs(alpha - ref).mean()) <= cal.ALPHA_TOLERANCE


def test_doctor_says_which_cpu_engine_runs_and_why(model_file, small):
    first = doctor.check_cpu_engine(model_file)
    if len(cpu_contenders()) == 1:
        assert first[0].detail == "--backend auto runs ONNX Runtime on the CPU here"
        return
    file_run, *live_run = (check.detail for check in doctor.check_cpu_engine(model_file))
    assert file_run.startswith("--backend auto, file runs: ")
    assert "cached from" in file_run  # measured by the first call, read back by the second
    for entry in cpu_contenders():
        assert f"{entry.library} " in file_run
    assert " ms" in file_run and "of ONNX Runtime float32" in file_run
    assert all(line.startswith("--backend auto, live runs: ") for line in live_run)
    missing = doctor.check_cpu_engine(None)[0].detail
    assert "measures" in missing and "on its first CPU run" in missing


def test_the_file_bench_says_what_auto_chose_and_why(model_file, small, tmp_path):
    from rtmatte.cli import main

    report_file = tmp_path / "bench.json"
    assert main(["bench", "--size", "256x144", "--frames", "4", "--rounds", "1",
                 "--backend", "auto", "--json", str(report_file)]) == 0
    report = json.loads(report_file.read_text())
    calibration = cal.cpu_calibration(Request(model_file, "cpu"), cpu_contenders(),
                                      measure=False)
    if calibration is None:  # ONNX Runtime alone: nothing was measured
        assert report["cpu_engine_choice"] is None
        return
    assert report["cpu_engine_choice"].startswith(f"{calibration.chosen}: ")
    assert report["backend"] == calibration.result(calibration.chosen).engine


def _fixed_size_graph(model_file, folder, width: int = 320, height: int = 240):
    """The released model with its frame input pinned to one size, as an export for one engine
    would be: a real graph whose frame size :func:`fixed_frame_size` reads."""
    graph = onnx_format.load(str(model_file))
    src = next(tensor for tensor in graph.graph.input if tensor.name == "src")
    for dim, value in zip(src.type.tensor_type.shape.dim, (1, 3, height, width), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    path = folder / f"rvm_{width}x{height}.onnx"
    onnx_format.save(graph, str(path))
    return path


def test_the_note_about_a_fixed_size_graph_goes_to_notify_not_stderr(model_file, tmp_path,
                                                                     capfd):
    """Library code prints nothing: why --backend auto did not measure reaches the caller's
    notify, through create_backend and through the engine (the API's open_matter)."""
    fixed = _fixed_size_graph(model_file, tmp_path)
    heard: list[str] = []
    backend = cal.create_calibrated(Request(fixed, "cpu", notify=heard.append), cpu_contenders())
    assert backend.name.startswith("onnxruntime")
    create_backend(fixed, device="cpu", cpu_threads=1, notify=heard.append)
    api.open_matter(Settings(model_path=fixed, device="cpu"), notify=heard.append)
    notes = [note for note in heard if "fixed to 320x240" in note and "ONNX Runtime" in note]
    # --backend auto asks the calibration only where there is a choice to make
    assert len(notes) == (3 if len(cpu_contenders()) > 1 else 1), heard
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == "", printed


def test_a_run_with_a_cached_choice_imports_neither_onnx_nor_torch(model_file, tmp_path):
    """What every `rtmatte IN -o OUT` pays before its first frame: importing the onnx package
    (0.6 s of CPU) or PyTorch (1-2 s, to learn a CPU-only machine has no CUDA) is paid once, by
    the run that builds the caches, not by every run after it."""
    picture = tmp_path / "in.png"
    cv2.imwrite(str(picture), cv2.cvtColor(clip_frame(2, 6, 320, 240), cv2.COLOR_RGB2BGR))
    script = ("import sys\nfrom rtmatte.cli import main\n"
              f"code = main([{str(picture)!r}, '-o', {str(tmp_path / 'out.png')!r}, "
              "'--overwrite', '--quiet'])\n"
              "print(code, *(name in sys.modules for name in ('onnx', 'torch')))\n")
    env = {name: value for name, value in os.environ.items() if name != "RTMATTE_HOME"}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, timeout=600) for _ in range(2)]
    assert runs[0].stdout.split()[0] == "0", runs[0].stderr  # builds what is missing
    assert runs[1].stdout.split() == ["0", "False", "False"], (runs[1].stdout, runs[1].stderr)


def test_only_engines_that_take_any_picture_size_cheaply_get_the_live_crop(model_file, tmp_path):
    """The live crop gives the model a new picture size whenever it grows or changes shape:
    every CPU engine takes that; an export pinned to one frame size cannot (the crop would be
    stretched to its size), and the live path then gives it the whole frame."""
    from rtmatte.matting.adaptive import LivePacer
    from rtmatte.matting.matter import Matter
    from rtmatte.post import PostChain

    plain = OnnxBackend(model_file, "CPUExecutionProvider")
    pinned = OnnxBackend(_fixed_size_graph(model_file, tmp_path), "CPUExecutionProvider")
    assert plain.whole_frame_only is None
    assert pinned.whole_frame_only == "the model was exported for 320x240 frames only"
    for name in ("openvino", "torch"):  # each installed on CI (torch by .ci/run)
        if importlib.util.find_spec(name) is not None:
            backend = create_backend(model_file, backend=name, device="cpu")
            assert backend.whole_frame_only is None, name
    pacers = [LivePacer(Matter(backend), PostChain(), 1 / 30, scout=Matter(backend))
              for backend in (plain, pinned)]
    assert [pacer.crop for pacer in pacers] == [True, False]
