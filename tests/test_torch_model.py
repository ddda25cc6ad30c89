"""rtmatte's PyTorch RVM against the official ONNX release, on real frames of a person."""

# ruff: noqa: E402 - the imports below need torch, which importorskip checks first

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import onnx
import onnxruntime as ort
from conftest import run_side_by_side

from rtmatte.errors import BackendUnavailable, ModelError, SettingsError
from rtmatte.matting.backends import create_backend
from rtmatte.matting.backends.torch import TorchBackend
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.convert import (
    cached_weights,
    convert_onnx,
    load_network,
    onnx_state_dict,
)
from rtmatte.matting.models.export import export_onnx
from rtmatte.matting.models.fetch import models_home, sha256_of
from rtmatte.matting.rvm.checkpoint import fold_batchnorm
from rtmatte.matting.rvm.network import MattingNetwork
from rtmatte.samples import clip_frame, portrait

STATES = ("r1i", "r2i", "r3i", "r4i")


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    from rtmatte.matting.models.fetch import ensure_model

    return ensure_model("rvm-mobilenetv3")


@pytest.fixture(scope="module", autouse=True)
def _own_cache(onnx_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """Converted weights go to a fresh models folder, never the user's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RTMATTE_HOME", str(tmp_path_factory.mktemp("rtmatte-home")))
        yield


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: on a busy machine PyTorch's thread barriers can cost 5x the time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def network(onnx_path: Path) -> MattingNetwork:
    return load_network(onnx_path, "cpu")


def _frames(count: int, width: int, height: int):
    for index in range(count):
        rgb = clip_frame(index, count, width, height)
        yield rgb.transpose(2, 0, 1)[np.newaxis].astype(np.float32) / np.float32(255)


def _run_both(network, session, frames, ratio: float, ratio_input: bool = True):
    """Run the module and an ONNX session side by side, states carried; yield their outputs.

    ``ratio_input`` is False for graphs exported with the ratio baked in.
    """
    ort_state = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    torch_state = [torch.zeros(1, 1, 1, 1)] * 4
    for src in frames:
        feeds = {"src": src, **dict(zip(STATES, ort_state, strict=True))}
        if ratio_input:
            feeds["downsample_ratio"] = np.array([ratio], np.float32)
        fgr, pha, *ort_state = session.run(None, feeds)
        with torch.inference_mode():
            t_fgr, t_pha, *torch_state = network(
                torch.from_numpy(src), *torch_state, ratio)
        yield (t_fgr.numpy(), t_pha.numpy(), [s.numpy() for s in torch_state]), (
            fgr, pha, ort_state)


def test_matches_official_onnx_over_a_clip(network, onnx_path):
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst_alpha = worst_fgr = worst_state = 0.0
    for (fgr, pha, state), (ref_fgr, ref_pha, ref_state) in _run_both(
        network, session, _frames(32, 256, 192), 0.5
    ):
        worst_alpha = max(worst_alpha, float(np.abs(pha - ref_pha).max()))
        worst_fgr = max(worst_fgr, float(np.abs(fgr - ref_fgr).max()))
        worst_state = max(worst_state, *(float(np.abs(a - b).max())
                                         for a, b in zip(state, ref_state, strict=True)))
    assert [s.shape[1] for s in state] == [16, 20, 40, 64]
    assert [s.shape[2:] for s in state] == [(48, 64), (24, 32), (12, 16), (6, 8)]
    assert worst_alpha <= 1e-3
    assert worst_fgr <= 1e-3
    assert worst_state <= 1e-3


@pytest.mark.parametrize(("width", "height", "ratio"), [(321, 243, 0.4), (160, 120, 1.0)])
def test_matches_official_onnx_at_odd_sizes_and_full_ratio(network, onnx_path, width, height,
                                                           ratio):
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for (fgr, pha, _), (ref_fgr, ref_pha, _) in _run_both(
        network, session, _frames(3, width, height), ratio
    ):
        assert pha.shape == (1, 1, height, width)
        assert np.abs(pha - ref_pha).max() <= 1e-3
        assert np.abs(fgr - ref_fgr).max() <= 1e-3


@pytest.mark.parametrize("size", [None, (320, 240)], ids=["any-size", "static-320x240"])
def test_exported_onnx_matches_module(network, onnx_path, tmp_path, size):
    out = export_onnx(onnx_path, tmp_path / "rvm.onnx", 0.5, size=size)
    model = onnx.load(str(out))
    assert {p.key: p.value for p in model.metadata_props}["rtmatte.downsample_ratio"] == "0.5"
    assert [i.name for i in model.graph.input] == ["src", *STATES]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    width, height = size or (288, 208)  # not the traced size, to prove the shapes are free
    for (fgr, pha, _), (ref_fgr, ref_pha, _) in _run_both(
        network, session, _frames(8, width, height), 0.5, ratio_input=False
    ):
        assert np.abs(pha - ref_pha).max() <= 1e-3
        assert np.abs(fgr - ref_fgr).max() <= 1e-3


def test_fp16_export_stays_close(network, onnx_path, tmp_path):
    out = export_onnx(onnx_path, tmp_path / "rvm16.onnx", 0.5, fp16=True)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for (_, pha, _), (_, ref_pha, _) in _run_both(
        network, session, _frames(4, 256, 192), 0.5, ratio_input=False
    ):
        assert np.abs(pha - ref_pha).mean() <= 5e-3


def test_backend_mattes_the_person_not_the_background(onnx_path):
    backend = create_backend(onnx_path, backend="torch", device="cpu")
    assert isinstance(backend, TorchBackend)
    assert backend.name == "torch/cpu/fp32"
    matter = Matter(backend)
    for _ in range(4):  # let the recurrent state settle on the still portrait
        matte = matter(portrait())
    alpha = matte.alpha
    assert alpha.shape == (512, 512) and alpha.dtype == np.float32
    assert matte.fgr.shape == (512, 512, 3) and matte.fgr.dtype == np.uint8
    # Face and orange suit of the astronaut; flag, top-left; grey wall, top-right, beside the
    # shuttle model. The bottom corners hold her helmet and arm, so they are left out.
    assert alpha[90:150, 190:260].mean() > 0.95
    assert alpha[300:380, 120:230].mean() > 0.95
    assert alpha[:40, :40].mean() < 0.05
    assert alpha[:48, 464:].mean() < 0.05
    assert alpha[100:200, :50].mean() < 0.05


def test_backend_agrees_with_the_onnx_backend(onnx_path):
    """Same uint8 frames in, same mattes out: covers the upload, layout and state handling."""
    from rtmatte.matting.backends.onnx import OnnxBackend

    pairs, _ = run_side_by_side(TorchBackend(onnx_path, device="cpu"), OnnxBackend(onnx_path),
                                6, 240, 180, 0.5)
    for (alpha, fgr), (ref_alpha, ref_fgr) in pairs:
        assert np.abs(alpha - ref_alpha).max() <= 1e-3
        assert np.abs(fgr - ref_fgr).max() <= 1e-3


def _training_form_parameters(network: MattingNetwork) -> int:
    """Parameters of the network as trained: each folded bias was a batch-norm's weight and
    bias (one more per channel), and the training-only segmentation head adds 16 + 1."""
    modules = dict(network.named_modules())
    norms = 0
    for name, module in modules.items():
        parent, _, index = name.rpartition(".")
        if isinstance(module, torch.nn.Identity) and name:
            conv = f"{parent}.conv{index[2:]}" if index.startswith("bn") else (
                f"{parent}.{int(index) - 1}")
            norms += modules[conv].out_channels
    return sum(p.numel() for p in network.parameters()) + norms + 17


@pytest.mark.parametrize(("variant", "millions"), [("mobilenetv3", 3.749), ("resnet50", 26.890)])
def test_parameter_counts_are_the_papers(variant, millions):
    """The RVM paper gives each variant's size to the thousand parameters: a layer
    of the wrong width or a block too many or too few would show here."""
    assert round(_training_form_parameters(MattingNetwork(variant)) / 1e6, 3) == millions


def test_resnet50_weights_round_trip_through_onnx(tmp_path):
    """The released ResNet-50 file cannot be fetched here, so a graph of this network with
    seeded weights stands in for it: the converter must pick the ResNet-50 layout from the graph
    alone and read back every weight exactly, and the graph must run like the module."""
    torch.manual_seed(3)
    network = MattingNetwork("resnet50").eval()
    for param in network.parameters():
        param.data.mul_(0.5)  # keeps the un-normalised deep trunk's activations in range
    weights = tmp_path / "resnet50.pt"
    torch.save(network.state_dict(), weights)
    graph = export_onnx(weights, tmp_path / "resnet50.onnx", 0.5, size=(160, 128))

    state = onnx_state_dict(graph)
    assert state.keys() == network.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())

    loaded = load_network(graph, "cpu")
    assert loaded.variant == "resnet50"
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    for (fgr, pha, rec), (ref_fgr, ref_pha, ref_rec) in _run_both(
        loaded, session, _frames(3, 160, 128), 0.5, ratio_input=False
    ):
        assert 0.0 < pha.mean() < 1.0  # not saturated, so the comparison says something
        assert np.abs(pha - ref_pha).max() <= 1e-3
        assert np.abs(fgr - ref_fgr).max() <= 1e-3
        assert all(np.abs(a - b).max() <= 1e-3 for a, b in zip(rec, ref_rec, strict=True))
    assert [r.shape[1] for r in rec] == [16, 32, 64, 128]


def test_converted_weights_round_trip(onnx_path, tmp_path):
    out = convert_onnx(onnx_path, tmp_path / "w.pt")
    state = torch.load(out, weights_only=True)
    assert state.keys() == MattingNetwork().state_dict().keys()
    sidecar = json.loads((tmp_path / "w.pt.json").read_text())
    assert sidecar["source_sha256"] == sha256_of(onnx_path)
    assert sidecar["weights_sha256"] == sha256_of(out)


def test_corrupt_cache_is_rebuilt(onnx_path):
    cached = cached_weights(onnx_path)
    assert cached.parent == models_home() and cached.name == f"{onnx_path.stem}.pt"
    good = sha256_of(cached)
    mtime = cached.stat().st_mtime_ns
    assert cached_weights(onnx_path) == cached and cached.stat().st_mtime_ns == mtime

    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    assert cached_weights(onnx_path) == cached
    assert sha256_of(cached) == good

    cached.write_bytes(b"truncated")
    load_network(onnx_path, "cpu")
    assert sha256_of(cached) == good


def test_cache_follows_a_changed_source(onnx_path):
    cached_weights(onnx_path)
    sidecar = models_home() / f"{onnx_path.stem}.pt.json"
    record = json.loads(sidecar.read_text())
    record["source_sha256"] = "0" * 64
    sidecar.write_text(json.dumps(record))
    cached_weights(onnx_path)
    assert json.loads(sidecar.read_text())["source_sha256"] == sha256_of(onnx_path)


def test_other_graphs_are_refused(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["src", "w"], ["out"])], "not-rvm",
        [helper.make_tensor_value_info("src", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 6, 6])],
        initializer=[weight],
    )
    path = tmp_path / "conv.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ModelError, match="RVM MobileNetV3"):
        onnx_state_dict(path)


def _training_checkpoint(network: MattingNetwork) -> dict[str, torch.Tensor]:
    """What a training checkpoint of this network looks like: bias-free convs, each + a BN."""
    modules = dict(network.named_modules())
    generator = torch.Generator().manual_seed(0)
    state: dict[str, torch.Tensor] = {}
    for key, value in network.state_dict().items():
        prefix, part = key.rsplit(".", 1)
        parent, _, index = prefix.rpartition(".")
        norm = None
        if index.isdigit():
            norm = f"{parent}.{int(index) + 1}"
        elif index.startswith("conv"):  # the ResNet-50 encoder's conv1/bn1 naming
            norm = f"{parent}.bn{index[4:]}"
        if part == "bias" and isinstance(modules.get(norm or ""), torch.nn.Identity):
            channels = value.shape[0]
            state[f"{norm}.weight"] = torch.rand(channels, generator=generator) + 0.5
            state[f"{norm}.bias"] = torch.randn(channels, generator=generator)
            state[f"{norm}.running_mean"] = torch.randn(channels, generator=generator)
            state[f"{norm}.running_var"] = torch.rand(channels, generator=generator) + 0.1
            state[f"{norm}.num_batches_tracked"] = torch.tensor(1000)
        else:
            state[key] = value
    state["project_seg.conv.weight"] = torch.zeros(1, 16, 1, 1)
    state["project_seg.conv.bias"] = torch.zeros(1)
    return state


def test_training_checkpoint_names_fold_onto_the_network(tmp_path):
    checkpoint = _training_checkpoint(MattingNetwork())
    assert any(key.endswith("features.16.1.running_var") for key in checkpoint)
    assert "decoder.decode0.conv.4.running_var" in checkpoint
    assert "refiner.conv.1.running_var" in checkpoint
    torch.save(checkpoint, tmp_path / "rvm_mobilenetv3.pth")
    network = load_network(tmp_path / "rvm_mobilenetv3.pth", "cpu")
    assert not network.training


def test_resnet50_checkpoint_names_fold_onto_the_network(tmp_path):
    checkpoint = _training_checkpoint(MattingNetwork("resnet50"))
    assert "backbone.bn1.running_var" in checkpoint
    assert "backbone.layer4.2.bn3.running_var" in checkpoint
    assert "backbone.layer1.0.downsample.1.running_var" in checkpoint
    torch.save(checkpoint, tmp_path / "rvm_resnet50.pth")
    network = load_network(tmp_path / "rvm_resnet50.pth", "cpu")
    assert network.variant == "resnet50"


@pytest.mark.parametrize(("prefix", "eps"), [("backbone.features.0.", 1e-3), ("aspp.aspp1.", 1e-5),
                                             ("backbone.layer1.0.downsample.", 1e-5)])
def test_batchnorm_folding_is_exact(prefix, eps):
    torch.manual_seed(0)
    trained = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, bias=False),
                                  torch.nn.BatchNorm2d(8, eps=eps)).eval()
    trained[1].running_mean.normal_()
    trained[1].running_var.uniform_(1e-3, 2.0)
    trained[1].weight.data.normal_()
    trained[1].bias.data.normal_()
    state = {prefix + key: value for key, value in trained.state_dict().items()}
    folded = {key.removeprefix(prefix): value for key, value in fold_batchnorm(state).items()}
    inference = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Identity()).eval()
    inference.load_state_dict(folded)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(inference(x), trained(x), atol=1e-5)


def test_cuda_asked_without_cuda_is_refused(onnx_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailable, match="CUDA"):
        TorchBackend(onnx_path, device="cuda")


def test_missing_torch_says_how_to_install(onnx_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BackendUnavailable, match=r"pip install rtmatte\[torch\]"):
        TorchBackend(onnx_path, device="cpu")


def test_precision_choices_on_cpu(onnx_path):
    assert TorchBackend(onnx_path, device="cpu", precision="fp32").name == "torch/cpu/fp32"
    with pytest.raises(SettingsError, match="float16 runs on a CUDA GPU"):
        TorchBackend(onnx_path, device="cpu", precision="fp16")
    with pytest.raises(SettingsError, match="unknown precision"):
        create_backend(onnx_path, backend="torch", device="cpu", precision="fp8")
