"""PyTorch backend: rtmatte's own RVM network, with the weights of the verified ONNX release.

Tensors are channels-last: tensor cores want that layout, and on CPU it also measured 7-15%
faster (oneDNN convolutions and upsampling vectorise over channels). On CPU it runs in float32 and
gives the same mattes as ONNX Runtime. On CUDA it runs in float16, uploads the frame as uint8 (a
quarter of the bytes of float32) and converts it there, and keeps the recurrent state on the GPU
between frames, so only the frame goes up and the matte comes down.

Both copies go through page-locked (pinned) host memory, which the GPU reads and writes directly;
from ordinary memory the driver first copies through a staging buffer of its own. The buffers come
from PyTorch's caching host allocator, so they are not allocated anew each frame, and a matte
handed downstream keeps its buffer until the pipeline lets go of it. The copies run on the
compute stream: with one frame in flight there is nothing for a second stream to overlap with.
On CUDA each frame's work after the first of a clip is replayed as a CUDA graph
(:mod:`rtmatte.matting.backends.cuda_graphs`), and cuDNN picks its fastest convolution algorithms
for the frame size once, when the graph is recorded.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from rtmatte.errors import BackendUnavailable, SettingsError
from rtmatte.matting.backends import DEVICES, PRECISIONS, Request, check_choice, gpu
from rtmatte.matting.backends.cuda_graphs import GraphedStep

if TYPE_CHECKING:
    import torch

    from rtmatte.matting.rvm.network import State


def create(request: Request) -> TorchBackend:
    return TorchBackend(request.model_path, device=request.device, precision=request.precision)


def unavailable(device: str) -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed (`pip install rtmatte[torch]`)"
    if device == "cuda" and not gpu.torch_cuda_available():
        if not gpu.nvidia_driver_reachable():  # said without importing PyTorch (1-2 s)
            return (f"PyTorch {importlib.metadata.version('torch')} sees no CUDA GPU (no NVIDIA "
                    "driver found)")
        import torch

        return (f"PyTorch {torch.__version__} sees no CUDA GPU (CUDA build: "
                f"{torch.version.cuda or 'none'})")
    return None


def _import_torch() -> ModuleType:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(
            "the torch backend needs PyTorch: `pip install rtmatte[torch]` (for an NVIDIA GPU, "
            "a CUDA build of PyTorch from pytorch.org)"
        ) from exc
    return torch


class TorchBackend:
    """Runs :class:`~rtmatte.matting.rvm.network.MattingNetwork` one frame at a time."""

    def __init__(self, model_path: Path, device: str = "auto", precision: str = "auto") -> None:
        """``precision`` auto is float16 on CUDA and float32 on CPU."""
        torch = _import_torch()
        check_choice("device", device, DEVICES)
        check_choice("precision", precision, PRECISIONS)
        cuda = torch.cuda.is_available()
        if device == "cuda" and not cuda:
            raise BackendUnavailable(
                "--device cuda asked for, but this PyTorch sees no CUDA GPU "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); install "
                "a CUDA build of PyTorch and the NVIDIA driver, or use --device cpu"
            )
        from rtmatte.matting.models.convert import load_network

        self._torch = torch
        #: where the network, its state and :meth:`run_on_device`'s tensors live
        self.device = torch.device("cuda" if device == "cuda" or (device == "auto" and cuda)
                                   else "cpu")
        on_gpu = self.device.type == "cuda"
        if precision == "fp16" and not on_gpu:
            raise SettingsError("float16 runs on a CUDA GPU; on a CPU the torch backend runs "
                                "float32 (drop --precision fp16)")
        half = on_gpu and precision != "fp32"
        self._dtype = torch.float16 if half else torch.float32
        network = load_network(model_path, self.device)
        self._network = network.to(dtype=self._dtype, memory_format=torch.channels_last)
        self.name = f"torch/{self.device.type}/{'fp16' if half else 'fp32'}"
        self.baked_ratio: float | None = None  # takes the ratio per frame
        self.whole_frame_only = None if not on_gpu else (
            "on CUDA a recorded graph hands every recurrent state of one shape the same "
            "buffers, so the crop's scout cannot have its own; a GPU mattes the whole frame in "
            "time")
        self.graphs: GraphedStep | None = None
        if on_gpu:
            torch.backends.cudnn.benchmark = True  # a clip keeps one frame size throughout
            self.graphs = GraphedStep(torch, self._step)

    def initial_state(self) -> State:
        zeros = self._torch.zeros((1, 1, 1, 1), dtype=self._dtype, device=self.device)
        return (zeros, zeros, zeros, zeros)

    def infer(
        self, rgb: np.ndarray, state: State, downsample_ratio: float
    ) -> tuple[np.ndarray, np.ndarray, State]:
        torch = self._torch
        with torch.inference_mode():
            alpha, fgr, *next_state = self.run_on_device(self._upload(rgb), state,
                                                         downsample_ratio)
            alpha, fgr = self._download(alpha), self._download(fgr)
            if self.device.type == "cuda":
                torch.cuda.current_stream(self.device).synchronize()
        return alpha.numpy(), fgr.numpy(), tuple(next_state)

    def run_on_device(self, frame: torch.Tensor, state: State,
                      downsample_ratio: float) -> tuple[torch.Tensor, ...]:
        """One frame already on the device: alpha (H, W), foreground (H, W, 3) float32 and the
        next state, all still there. A CUDA graph replay where one is recorded; the returned
        tensors are then its buffers, valid until the next call."""
        if self.graphs is None:
            return self._step(frame, *state, downsample_ratio)
        return self.graphs(frame, state, downsample_ratio)

    def _step(self, frame: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor, r3: torch.Tensor,
              r4: torch.Tensor, downsample_ratio: float) -> tuple[torch.Tensor, ...]:
        """Device tensors in, device tensors out: the part a CUDA graph can record. ``frame`` is
        the uint8 (H, W, 3) picture; returns alpha (H, W), foreground (H, W, 3) as float32, and
        the next state."""
        src = frame.permute(2, 0, 1).unsqueeze(0).to(self._dtype).mul_(1.0 / 255.0)
        src = src.contiguous(memory_format=self._torch.channels_last)
        fgr, pha, *state = self._network(src, r1, r2, r3, r4, downsample_ratio)
        return (pha[0, 0].float(), fgr[0].permute(1, 2, 0).float(), *state)

    def _upload(self, rgb: np.ndarray) -> torch.Tensor:
        torch = self._torch
        if self.device.type == "cpu":
            return torch.from_numpy(np.ascontiguousarray(rgb))
        staged = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
        staged.numpy()[...] = rgb
        return staged.to(self.device, non_blocking=True)

    def _download(self, tensor: torch.Tensor) -> torch.Tensor:
        """Start the copy to the host; on CUDA it is complete after the stream synchronises."""
        if tensor.device.type == "cpu":
            return tensor
        staged = self._torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        return staged.copy_(tensor, non_blocking=True)
