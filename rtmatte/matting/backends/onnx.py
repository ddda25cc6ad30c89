"""ONNX Runtime backend for RVM-style ONNX graphs (inputs src, r1i..r4i, downsample_ratio).

On CPU and CUDA one session serves every frame size. TensorRT compiles an engine for fixed input
shapes, so the TensorRT provider gets one session per frame size and downsample ratio, made on the
first frame that needs it, with every input's shape pinned to that size. Its engines and the
timing cache are kept on disk under :mod:`rtmatte.matting.models.trt_cache`'s keys (model content,
GPU, TensorRT release, size, precision), so the minutes an engine takes to build are spent once.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from rtmatte.errors import BackendUnavailable, ModelError, OutputError, SettingsError
from rtmatte.matting.backends import (
    GPU_PRECISIONS,
    Backend,
    Request,
    check_choice,
    create_fastest,
)
from rtmatte.matting.backends.coarse_graph import GAIN, OFFSET, ensure_coarse
from rtmatte.matting.backends.host_refine import apply_maps
from rtmatte.matting.models.fetch import sha256_of
from rtmatte.matting.models.frame_size import frame_size_of
from rtmatte.matting.models.trt_cache import (
    engine_key,
    profile_shapes,
    state_shapes,
    tensorrt_found,
)
from rtmatte.matting.rvm.tensors import (
    BAKED_RATIO_KEY,
    FGR,
    INPUTS,
    OUTPUTS,
    PHA,
    RATIO,
    SRC,
    STATE_INPUTS,
    STATE_OUTPUTS,
)

_INPUT_NAMES = set(INPUTS)
#: graphs from `rtmatte models export` have the ratio baked in and recorded in their metadata
_BAKED_INPUT_NAMES = {SRC, *STATE_INPUTS}
_OUTPUT_NAMES = list(OUTPUTS)
_COARSE_OUTPUT_NAMES = [GAIN, OFFSET, *STATE_OUTPUTS]
_SCALE = np.float32(1.0 / 255.0)
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
TENSORRT_PROVIDER = "TensorrtExecutionProvider"
#: the provider that runs ONNX Runtime on each device (TensorRT is a backend of its own)
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def create(request: Request) -> Backend:
    """``--backend onnx``: ONNX Runtime on the device asked for; on ``auto`` its fastest provider
    present, TensorRT included."""
    if request.device == "cuda":
        return OnnxBackend(request.model_path, PROVIDERS["cuda"])
    if request.device == "cpu":
        return OnnxBackend(request.model_path, PROVIDERS["cpu"], request.cpu_threads)
    return create_fastest(request, among=("tensorrt", "onnx"))


def unavailable(device: str) -> str | None:
    provider = PROVIDERS[device]
    return None if provider in available_providers() else missing_provider_message(provider)


class OnnxBackend:
    """ONNX Runtime sessions. On a GPU the recurrent state stays in the GPU's memory between
    frames, as ONNX Runtime values bound to the next run; only the frame goes up and the matte
    comes down. On a CPU it is plain numpy arrays."""

    def __init__(self, model_path: Path, provider: str = "CPUExecutionProvider",
                 cpu_threads: int | None = None, precision: str = "fp16",
                 state_device: str | None = None, host_refine: bool | None = None) -> None:
        """``cpu_threads`` (default: one per core) sizes the CPU thread pool. ``precision``
        (fp16 or fp32) is what TensorRT builds its engines in; other providers run the graph as
        it is. ``state_device`` is where the recurrent state is kept through I/O binding: by
        default ``cuda`` for the GPU providers and none (plain arrays) for the CPU one.
        ``host_refine`` (default: on the CPU) runs the graph without its full-resolution step
        and does that step with OpenCV (:mod:`rtmatte.matting.backends.coarse_graph`); a graph of
        another shape is run whole. It runs the coarse graph without I/O binding: it is for the
        CPU, where the state is in host memory anyway."""
        if provider not in available_providers():
            raise BackendUnavailable(missing_provider_message(provider))
        check_choice("precision", precision, GPU_PRECISIONS)
        if provider == TENSORRT_PROVIDER and not tensorrt_found():
            raise BackendUnavailable(missing_tensorrt_message())
        options = session_options(cpu_threads)
        coarse = None
        if host_refine or (host_refine is None and provider == "CPUExecutionProvider"):
            coarse = ensure_coarse(model_path)
        #: True when the graph stops at the refiner's maps and :func:`apply_maps` finishes it
        self.host_refine = coarse is not None
        if provider == TENSORRT_PROVIDER:
            # TensorRT sessions wait for the frame size; a plain CPU session reads the graph's
            # inputs, metadata and state channels meanwhile
            session = _open(model_path, _inspection_options(), ["CPUExecutionProvider"])
        else:
            session = _open(coarse or model_path, options, [provider])
        names = {i.name for i in session.get_inputs()}
        metadata = session.get_modelmeta().custom_metadata_map
        #: the ratio fixed inside an exported graph; None when the graph takes it per frame
        self.baked_ratio: float | None = None
        if names == _BAKED_INPUT_NAMES and BAKED_RATIO_KEY in metadata:
            self.baked_ratio = float(metadata[BAKED_RATIO_KEY])
        elif names != _INPUT_NAMES:
            raise ModelError(
                f"{model_path} is not an RVM-compatible model: its inputs are {sorted(names)}, "
                f"expected {sorted(_INPUT_NAMES)}"
            )
        #: (width, height) an exported graph's frame is fixed to; None when any size runs
        self.fixed_size = frame_size_of(next(i.shape for i in session.get_inputs()
                                             if i.name == SRC))
        self.whole_frame_only = _whole_frame_only(provider, self.fixed_size)
        self._tensorrt: _TensorrtSessions | None = None
        if provider == TENSORRT_PROVIDER:
            self._tensorrt = _TensorrtSessions(Path(model_path), options, precision,
                                               _state_channels(session, model_path))
            self.name = f"onnxruntime/{provider}/{precision}"
        else:
            self._session = session
            self.name = f"onnxruntime/{provider}"
        # RVM's float16 release takes its frame and states in float16 (the ratio stays float32)
        types = {i.name: _NUMPY_TYPES.get(i.type, np.float32) for i in session.get_inputs()}
        self._dtype = types[SRC]
        self._ratio = np.zeros(1, dtype=types.get(RATIO, np.float32))
        self._state_device = state_device
        if state_device is None and provider != "CPUExecutionProvider":
            self._state_device = "cuda"

    def initial_state(self) -> list[np.ndarray] | None:
        """Zeros of shape 1x1x1x1, which the graph broadcasts; None for TensorRT, whose engines
        take exactly their state shapes, known only with the first frame (see :meth:`infer`)."""
        if self._tensorrt is not None:
            return None
        return [np.zeros((1, 1, 1, 1), dtype=self._dtype) for _ in STATE_INPUTS]

    def infer(
        self, rgb: np.ndarray, state: list | None, downsample_ratio: float
    ) -> tuple[np.ndarray, np.ndarray, list]:
        """One step; an exported graph with a baked ratio ignores ``downsample_ratio``."""
        if self.fixed_size is not None and rgb.shape[1::-1] != self.fixed_size:
            width, height = self.fixed_size
            raise SettingsError(f"this model was exported for {width}x{height} frames only and "
                                f"got {rgb.shape[1]}x{rgb.shape[0]}: export it again with "
                                f"`rtmatte models export --size {rgb.shape[1]}x{rgb.shape[0]}` "
                                f"or without --size")
        # scaled once, interleaved, for the host step; ONNX Runtime gets a contiguous planar copy
        # (from a strided array it would make that copy itself, on top of ours)
        frame = rgb.astype(np.float32)
        frame *= _SCALE
        src = np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=self._dtype)[np.newaxis]
        feeds = {SRC: src}
        if self.baked_ratio is None:
            self._ratio[0] = downsample_ratio
            feeds[RATIO] = self._ratio
        if self._tensorrt is not None:
            height, width = rgb.shape[:2]
            ratio = self.baked_ratio or downsample_ratio
            session = self._tensorrt.session(height, width, ratio)
            if state is None:  # zeros of the full shapes give what 1x1x1x1 zeros give
                state = self._tensorrt.zero_state(height, width, ratio, self._dtype)
        else:
            session = self._session
        feeds.update(zip(STATE_INPUTS, state, strict=True))
        if self.host_refine:
            gain, offset, *next_state = session.run(_COARSE_OUTPUT_NAMES, feeds)
            alpha, fgr = apply_maps(frame, gain[0], offset[0])
            return alpha, fgr, next_state
        if self._state_device is None:
            fgr, pha, *next_state = session.run(_OUTPUT_NAMES, feeds)
        else:
            fgr, pha, *next_state = _run_bound(session, feeds, self._state_device)
        if fgr.dtype != np.float32:
            fgr, pha = fgr.astype(np.float32), pha.astype(np.float32)
        # planes to interleaved HWC in one pass: later full-frame maths then reads memory in order
        return pha[0, 0], cv2.merge(list(fgr[0])), next_state


def _run_bound(session: ort.InferenceSession, feeds: dict, state_device: str) -> list:
    """One run through I/O binding: the mattes come back to the host as arrays, the next state
    stays on ``state_device`` as ONNX Runtime values, ready to be bound to the next run."""
    binding = session.io_binding()
    for name, value in feeds.items():
        if isinstance(value, ort.OrtValue):
            binding.bind_ortvalue_input(name, value)
        else:
            binding.bind_cpu_input(name, value)
    for name in _OUTPUT_NAMES:
        binding.bind_output(name, "cpu" if name in (FGR, PHA) else state_device)
    session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    fgr, pha, *state = binding.get_outputs()
    return [fgr.numpy(), pha.numpy(), *state]


class _TensorrtSessions:
    """One TensorRT session per (height, width, ratio), each pinned to its shapes and cached."""

    def __init__(self, model_path: Path, options: ort.SessionOptions, precision: str,
                 channels: tuple[int, ...]) -> None:
        self._model_path = model_path
        self._options = options
        self._precision = precision
        self._channels = channels
        self._sha256 = sha256_of(model_path)  # once: hashing 15 MB per frame size would show
        self._sessions: dict[tuple[int, int, float], ort.InferenceSession] = {}

    def session(self, height: int, width: int, ratio: float) -> ort.InferenceSession:
        key = (height, width, ratio)
        if key not in self._sessions:
            self._sessions[key] = self._build(height, width, ratio)
        return self._sessions[key]

    def zero_state(self, height: int, width: int, ratio: float,
                   dtype: type = np.float32) -> list[np.ndarray]:
        return [np.zeros(shape, dtype=dtype)
                for shape in state_shapes(height, width, ratio, self._channels)]

    def _build(self, height: int, width: int, ratio: float) -> ort.InferenceSession:
        key = engine_key(self._model_path, self._sha256, height, width, ratio, self._precision)
        try:
            key.folder.mkdir(parents=True, exist_ok=True)
            key.timing_folder.mkdir(parents=True, exist_ok=True)
            key.write_record()
        except OSError as exc:
            raise OutputError(
                f"cannot keep TensorRT engines in {key.folder}: {exc.strerror or exc}; set "
                "RTMATTE_HOME to a writable folder"
            ) from exc
        shapes = profile_shapes(height, width, ratio, self._channels)
        options = {
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(key.folder),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(key.timing_folder),
            "trt_fp16_enable": self._precision == "fp16",
            "trt_profile_min_shapes": shapes,
            "trt_profile_opt_shapes": shapes,
            "trt_profile_max_shapes": shapes,
        }
        # CUDA takes whatever TensorRT cannot
        providers = [(TENSORRT_PROVIDER, options), "CUDAExecutionProvider"]
        session = _open(self._model_path, self._options, providers)
        if session.get_providers()[0] != TENSORRT_PROVIDER:
            raise BackendUnavailable(
                f"ONNX Runtime could not start TensorRT for {key.describe()} and fell back to "
                f"{session.get_providers()[0]} (its own message above says why); check the "
                "TensorRT, CUDA and cuDNN versions against onnxruntime-gpu's requirements"
            )
        return session


def _whole_frame_only(provider: str, fixed_size: tuple[int, int] | None) -> str | None:
    """Why the live crop cannot be given to this session (see ``Backend.whole_frame_only``)."""
    if fixed_size is not None:
        return f"the model was exported for {fixed_size[0]}x{fixed_size[1]} frames only"
    if provider == TENSORRT_PROVIDER:
        return "TensorRT builds an engine for each picture size (minutes each)"
    if provider != "CPUExecutionProvider":
        return f"{provider} runs on a GPU, which mattes the whole frame in time"
    return None


def session_options(cpu_threads: int | None) -> ort.SessionOptions:
    """The options every session that runs frames is opened with (this backend's, and the model
    bench's bare session, so the two measure the same thing). Idle pool threads never spin:
    spinning burns the cores that decode, compositing and encode need beside the model, and
    measured no faster even for the model alone (720p, 2 cores: 7.4 fps without spinning, 6.9
    with)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if cpu_threads:
        options.intra_op_num_threads = cpu_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _inspection_options() -> ort.SessionOptions:
    """For a session that is only asked about the graph: optimising it would be wasted time."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    return options


def _open(model_path: Path, options: ort.SessionOptions, providers: list) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(model_path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelError(f"cannot load model {model_path}: {str(exc).splitlines()[0]}") from exc


def _state_channels(session: ort.InferenceSession, model_path: Path) -> tuple[int, ...]:
    """Each recurrent state's channel count, as the graph declares it on r1o..r4o: TensorRT's
    fixed-shape profiles need them before the first frame has run."""
    shapes = {output.name: output.shape for output in session.get_outputs()}
    channels = tuple(shapes.get(name, [None, None])[1] for name in STATE_OUTPUTS)
    if not all(isinstance(count, int) for count in channels):
        raise ModelError(f"{model_path} does not declare the channel counts of its recurrent "
                         "states (r1o..r4o), which TensorRT's fixed-shape engines need")
    return channels


def missing_provider_message(provider: str) -> str:
    if provider == "CPUExecutionProvider":
        return "onnxruntime has no CPU provider; reinstall it with `pip install onnxruntime`"
    return (
        f"ONNX Runtime's {provider} is not available here (found: "
        f"{', '.join(available_providers())}); install onnxruntime-gpu in place of onnxruntime "
        "and make sure the NVIDIA driver, CUDA 12 and cuDNN 9 (plus TensorRT for the TensorRT "
        "provider) are installed"
    )


def missing_tensorrt_message() -> str:
    return (
        "ONNX Runtime's TensorRT provider is installed but TensorRT itself is not (no `tensorrt` "
        "module, no libnvinfer on the library path): `pip install tensorrt` (the release your "
        "onnxruntime-gpu was built for), or add the lib folder of NVIDIA's TensorRT to "
        "LD_LIBRARY_PATH (PATH on Windows); --backend onnx --device cuda runs without it"
    )
