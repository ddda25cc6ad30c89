"""Where TensorRT engines are kept, and what each one is built for.

A TensorRT engine is compiled for one GPU model, one TensorRT release, one set of input shapes and
one precision, and ONNX Runtime's own engine cache checks little of that: a stale engine is either
refused or rebuilt over the cached one, minutes each time. So every engine gets a folder of its own
whose name says all of it::

    models_home()/trt/<gpu>_trt-<version>/<model stem>-<sha256 prefix>/
        <W>x<H>-ds<w>x<h>-<precision>-ort<onnxruntime version>/

``WxH`` is the frame, ``wxh`` the downsampled frame the network works at (which fixes the
recurrent state shapes); ONNX Runtime's release is there because its engine files change with
it. A ``key.json`` in the folder says in words what the name was built from. The TensorRT timing
cache (measured kernel timings, valid across models) lives in ``timing/`` of the GPU and TensorRT
folder, shared by all its engines, so a new frame size builds much faster. All of it sits in the
rtmatte cache, never beside the model file, which may be read-only.
"""

from __future__ import annotations

import ctypes
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rtmatte.matting.backends import gpu
from rtmatte.matting.models.fetch import models_home
from rtmatte.matting.rvm.tensors import SRC, STATE_INPUTS

UNKNOWN_GPU = "unknown-gpu"
UNKNOWN_TENSORRT = "unknown-trt"
#: the recurrent states r1..r4 sit at 1/2, 1/4, 1/8 and 1/16 of the downsampled frame
_STATE_HALVINGS = (1, 2, 3, 4)
#: TensorRT 10's library, then 8's, by the names Linux and Windows give them
_NVINFER_LIBRARIES = (
    "libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so", "nvinfer_10.dll", "nvinfer.dll",
)


@dataclass(frozen=True)
class EngineKey:
    """Everything one engine is specific to: runs share an engine only when all of it matches."""

    model_stem: str
    model_sha256: str
    gpu: str
    tensorrt: str
    width: int
    height: int
    downsampled: tuple[int, int]  # (width, height) the network works at
    precision: str
    onnxruntime: str

    @property
    def root(self) -> Path:
        """Per GPU and TensorRT release: what the timing cache and every engine under it share."""
        return models_home() / "trt" / f"{self.gpu}_trt-{self.tensorrt}"

    @property
    def timing_folder(self) -> Path:
        return self.root / "timing"

    @property
    def folder(self) -> Path:
        small_w, small_h = self.downsampled
        model = f"{self.model_stem}-{self.model_sha256[:12]}"
        shape = f"{self.width}x{self.height}-ds{small_w}x{small_h}"
        return self.root / model / f"{shape}-{self.precision}-ort{self.onnxruntime}"

    def describe(self) -> str:
        """One line for messages: which engine this is, in words."""
        small_w, small_h = self.downsampled
        return (
            f"{self.model_stem} (sha256 {self.model_sha256[:12]}) on {self.gpu}, TensorRT "
            f"{self.tensorrt}, {self.width}x{self.height} frames (network at {small_w}x{small_h}), "
            f"{self.precision}"
        )

    def write_record(self) -> Path:
        """``key.json`` in the engine folder: someone clearing the cache can tell what is what."""
        small_w, small_h = self.downsampled
        record = {
            "model": self.model_stem,
            "model_sha256": self.model_sha256,
            "gpu": self.gpu,
            "tensorrt": self.tensorrt,
            "onnxruntime": self.onnxruntime,
            "frame_size": f"{self.width}x{self.height}",
            "downsampled_size": f"{small_w}x{small_h}",
            "precision": self.precision,
            "description": self.describe(),
        }
        path = self.folder / "key.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        return path


def engine_key(model_path: Path, model_sha256: str, height: int, width: int, ratio: float,
               precision: str) -> EngineKey:
    """The key of the engine for this model, frame size, downsample ratio and precision, on the GPU
    and TensorRT release found here. ``model_sha256`` is passed in because hashing the file per
    frame size would cost more than everything else here together."""
    small_h, small_w = downsampled_size(height, width, ratio)
    return EngineKey(
        model_stem=Path(model_path).stem, model_sha256=model_sha256, gpu=gpu_id(),
        tensorrt=tensorrt_version(), width=width, height=height, downsampled=(small_w, small_h),
        precision=precision, onnxruntime=ort.__version__,
    )


def downsampled_size(height: int, width: int, ratio: float) -> tuple[int, int]:
    """(height, width) the network shrinks the frame to. The graph multiplies in float32 and
    rounds down, so this must too: 100 * 0.29 is 29 in float32 but 28.99... in float64."""
    scale = np.float32(ratio)
    return int(np.float32(height) * scale), int(np.float32(width) * scale)


def state_shapes(height: int, width: int, ratio: float,
                 channels: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """Shapes of r1..r4 for this frame size and ratio: each encoder stage halves the size,
    rounding up (stride-2 convolutions padded by one)."""
    small_h, small_w = downsampled_size(height, width, ratio)
    shapes = []
    for halvings, count in zip(_STATE_HALVINGS, channels, strict=True):
        shapes.append((1, count, _halve(small_h, halvings), _halve(small_w, halvings)))
    return shapes


def profile_shapes(height: int, width: int, ratio: float, channels: tuple[int, ...]) -> str:
    """The inputs' shapes in ONNX Runtime's TensorRT profile format (``name:1x3xHxW,...``).
    Given as min, opt and max alike, they pin the engine to exactly this size, which TensorRT
    optimises best; the first frame then feeds zeros of these shapes, not 1x1x1x1."""
    shapes = [(SRC, (1, 3, height, width))]
    shapes += zip(STATE_INPUTS, state_shapes(height, width, ratio, channels), strict=True)
    return ",".join(f"{name}:{'x'.join(str(d) for d in shape)}" for name, shape in shapes)


def gpu_id() -> str:
    """The GPU as name and compute capability, e.g. ``nvidia-geforce-rtx-4090-sm89``: an engine
    holds kernels chosen by timing them on one GPU model and is refused, or slow, on another."""
    return _gpu_from_nvidia_smi() or _gpu_from_torch() or UNKNOWN_GPU


def tensorrt_version() -> str:
    """The TensorRT release as major.minor.patch: an engine is a serialised TensorRT object that
    only the release that wrote it can load."""
    return _tensorrt_from_module() or _tensorrt_from_library() or UNKNOWN_TENSORRT


def tensorrt_found() -> bool:
    """Whether TensorRT's libraries are here at all. onnxruntime-gpu lists its TensorRT provider
    whether or not they are, and without them falls back to CUDA under TensorRT's name."""
    return tensorrt_version() != UNKNOWN_TENSORRT


def _gpu_from_nvidia_smi() -> str | None:
    gpus = gpu.nvidia_smi("name", "compute_cap")
    name, capability = gpus[0] if gpus and len(gpus[0]) == 2 else ("", "")
    return _gpu_slug(name, capability) if name else None


def _gpu_from_torch() -> str | None:
    if not gpu.torch_cuda_available():
        return None
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return _gpu_slug(torch.cuda.get_device_name(0), f"{major}.{minor}")


def _gpu_slug(name: str, capability: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    digits = capability.strip().replace(".", "")
    return f"{slug}-sm{digits}" if digits.isdigit() else slug


def _tensorrt_from_module() -> str | None:
    """The ``tensorrt`` wheel is the usual way to give ONNX Runtime TensorRT, and carries the
    libraries it loads; its version has a build number after major.minor.patch, dropped here."""
    try:
        import tensorrt
    except (ImportError, OSError):  # OSError: the module is there but its libraries are not
        return None
    return ".".join(str(tensorrt.__version__).split(".")[:3])


def _tensorrt_from_library() -> str | None:
    """TensorRT from NVIDIA's archives or system packages has no Python module; its library
    states its own version."""
    for name in _NVINFER_LIBRARIES:
        try:
            # winmode=0: Windows searches PATH as ONNX Runtime's loader does (ignored elsewhere)
            library = ctypes.CDLL(name, winmode=0)
            getter = library.getInferLibVersion
        except (OSError, AttributeError):
            continue
        getter.restype = ctypes.c_int32
        return _decode_version(int(getter()))
    return None


def _decode_version(number: int) -> str:
    """TensorRT 10 packs its version as major*10000 + minor*100 + patch, earlier releases as
    major*1000 + minor*100 + patch (8.6.1 is 8601, 10.9.0 is 100900)."""
    major, rest = divmod(number, 10000 if number >= 10000 else 1000)
    minor, patch = divmod(rest, 100)
    return f"{major}.{minor}.{patch}"


def _halve(size: int, times: int) -> int:
    for _ in range(times):
        size = -(-size // 2)
    return size
