"""The backend registry is the one list: CLI choices, settings, doctor, auto and the bench read it;
and the RVM graph's tensor names are spelled in one module only."""

from __future__ import annotations

import re
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from rtmatte import cli
from rtmatte.bench import modelbench
from rtmatte.diagnostics import doctor
from rtmatte.errors import SettingsError
from rtmatte.matting import backends
from rtmatte.matting.backends import BackendEntry, Request, create_backend, register_backend
from rtmatte.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
TENSORS = ROOT / "rtmatte" / "matting" / "rvm" / "tensors.py"


class _Grey:
    """A stand-in backend: every pixel half foreground."""

    name = "fake/cpu"
    whole_frame_only = None

    def initial_state(self) -> None:
        return None

    def infer(self, rgb: np.ndarray, state: None, downsample_ratio: float):
        alpha = np.full(rgb.shape[:2], 0.5, np.float32)
        return alpha, rgb.astype(np.float32) / 255, state


@pytest.fixture
def registry():
    """Changes to the registry are undone in place, as every module refers to the one dict."""
    saved = dict(backends.REGISTRY)
    yield backends.REGISTRY
    backends.REGISTRY.clear()
    backends.REGISTRY.update(saved)


@pytest.fixture
def fake_backend(registry, monkeypatch: pytest.MonkeyPatch) -> BackendEntry:
    """A backend registered through the public function, in a module of its own, as a new
    backend would be; the registry is restored afterwards."""
    module = types.ModuleType("rtmatte_test_fake_backend")
    module.create = lambda request: _Grey()
    module.unavailable = lambda device: None
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry = BackendEntry("fake", module.__name__, needs=("numpy",), library="Fake Runtime",
                         runs={"cpu": "the fake runtime on the CPU"}, auto_rank=-1)
    register_backend(entry)
    return entry


def _parser_choices(option: str) -> list[str]:
    action = next(a for a in cli.build_parser()._actions if option in a.option_strings)
    return list(action.choices)


def test_the_cli_offers_exactly_the_registry():
    assert _parser_choices("--backend") == ["auto", *backends.backend_names()]
    assert _parser_choices("--device") == list(backends.DEVICES)
    assert _parser_choices("--precision") == list(backends.PRECISIONS)


def test_a_registered_backend_is_offered_checked_built_and_reported(fake_backend, model_file):
    assert "fake" in _parser_choices("--backend")
    assert cli.build_parser().parse_args(["in.mp4", "--backend", "fake"]).backend == "fake"
    Settings(backend="fake").validate()
    with pytest.raises(SettingsError, match="fake"):  # the message lists it among the choices
        Settings(backend="nonesuch").validate()
    assert create_backend(model_file, backend="fake").name == "fake/cpu"
    with pytest.raises(SettingsError, match="runs on the CPU; drop --device cuda"):
        create_backend(model_file, backend="fake", device="cuda")
    # ranked first, so auto on the CPU takes it, and doctor says so
    assert backends.fastest_present("cpu") == (fake_backend, "cpu")
    assert create_backend(model_file, device="cpu").name == "fake/cpu"
    details = [check.detail for check in doctor.check_backends()]
    assert "--backend auto runs the fake runtime on the CPU here" in details
    assert any("(--backend fake)" in detail for detail in details)  # its needs are listed
    assert "fake/cpu/fp32" in [variant.name for variant in modelbench.variants()]


def test_a_backend_absent_here_is_passed_over(fake_backend):
    sys.modules[fake_backend.module].unavailable = lambda device: "not here"
    choice = backends.fastest_present("cpu")
    assert choice is not None and choice[0].name != "fake"
    variant = next(v for v in modelbench.variants() if v.backend == "fake")
    assert variant.unavailable() == "not here"


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                    reason="ONNX Runtime's own CUDA provider would be chosen")
def test_onnx_on_auto_device_may_take_tensorrt_but_never_torch(registry, monkeypatch, model_file):
    """--backend onnx is ONNX Runtime with whichever of its providers is fastest."""
    stand_in = types.ModuleType("rtmatte_test_stand_in")
    stand_in.unavailable = lambda device: None
    stand_in.create = lambda request: types.SimpleNamespace(name=f"stand-in/{request.device}")
    monkeypatch.setitem(sys.modules, stand_in.__name__, stand_in)
    register_backend(replace(registry["torch"], module=stand_in.__name__))
    assert create_backend(model_file).name == "stand-in/cuda"  # auto takes torch on a GPU
    onnx_cpu = "onnxruntime/CPUExecutionProvider"
    assert create_backend(model_file, backend="onnx").name == onnx_cpu
    register_backend(replace(registry["tensorrt"], module=stand_in.__name__))
    assert create_backend(model_file, backend="onnx").name == "stand-in/cuda"
    assert registry["onnx"].create(Request(model_file, "cpu")).name == onnx_cpu


_EVERYWHERE = re.compile(r"""["'](src|pha|r[1-4][io])["']|\br\{[^}]*\}[io]\b""")
#: words that are also settings and stats keys elsewhere; in the matting package they are tensors
_IN_MATTING = re.compile(r"""["'](fgr|downsample_ratio)["']""")


def test_only_one_module_spells_out_the_rvm_tensor_names():
    assert _EVERYWHERE.search(TENSORS.read_text()), "the pattern no longer finds the names"
    spelled = []
    for path in sorted([*(ROOT / "rtmatte").rglob("*.py"), *(ROOT / "tools").rglob("*.py")]):
        if path == TENSORS:
            continue
        text = path.read_text()
        pattern_hits = _EVERYWHERE.findall(text)
        if "matting" in path.relative_to(ROOT).parts:
            pattern_hits += _IN_MATTING.findall(text)
        if pattern_hits:
            spelled.append(f"{path.relative_to(ROOT)}: {pattern_hits}")
    assert spelled == []
