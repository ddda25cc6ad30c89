"""OpenVINO backend: Intel's CPU inference engine, which runs bfloat16 where the CPU has it.

OpenVINO reads the verified RVM ONNX file directly; nothing is converted or left on disk beyond
the coarse graph (:mod:`.coarse_graph`) that the ONNX Runtime backend caches too, whose
full-resolution step is done by :func:`.host_refine.apply_maps` here as well.

On CPUs with AVX-512 BF16 or AMX, OpenVINO's default inference precision is bfloat16. Measured
on one such machine (docs/engines.md) that ran the model 1.3-1.4x faster than ONNX Runtime's
float32, within a mean alpha difference of about 5e-4, while OpenVINO forced to float32 was
slower than ONNX Runtime. Whether it wins on a given machine is measured there, by
:mod:`.calibrate`, before ``--backend auto`` runs it.

OpenVINO optimises best for fixed shapes, and a compile takes a few tenths of a second, so the
model is compiled once per frame size and downsample ratio, with the ratio folded in as a
constant and every input's shape pinned; the last few are kept (the live path moves between a
handful of working sizes).

On Intel laptops OpenVINO can also run the model on the integrated GPU (``GPU``) and the NPU
(``NPU``). :func:`other_devices` offers each one present to ``--backend auto``'s calibration,
which runs it only where it measures faster than the CPU engines with mattes within the same
tolerance (GPUs run float16 by default). Their compiled models are cached on disk (OpenVINO's
``CACHE_DIR``), as a GPU compile takes seconds. None of this could be run where rtmatte is
tested (no Intel GPU or NPU there): docs/engines.md says so.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtmatte.errors import BackendUnavailable, ModelError, SettingsError
from rtmatte.matting.backends import Backend, Request
from rtmatte.matting.backends.coarse_graph import GAIN, OFFSET, ensure_coarse
from rtmatte.matting.backends.host_refine import apply_maps
from rtmatte.matting.models.fetch import models_home
from rtmatte.matting.models.trt_cache import state_shapes
from rtmatte.matting.rvm.tensors import FGR, INPUTS, PHA, RATIO, SRC, STATE_INPUTS, STATE_OUTPUTS

_SCALE = np.float32(1.0 / 255.0)
_DEVICE = "CPU"
#: OpenVINO's other devices that may run the model: an Intel GPU (``GPU``, or ``GPU.0``,
#: ``GPU.1``... when there are several) and an Intel NPU
_ACCELERATORS = ("GPU", "NPU")
#: compiled models kept, one per (frame size, ratio): enough for every size of the live path's
#: ladder (8), which are all compiled before the first frame so that none is compiled mid-call
#: (a compile is a 0.4-0.8 s frozen picture); a few MB each
_COMPILED_KEPT = 12
INSTALL_HINT = "OpenVINO is not installed: `pip install 'rtmatte[openvino]'`"


def create(request: Request) -> Backend:
    """``--backend openvino``: the CPU, in OpenVINO's own precision for it unless ``--precision
    fp32`` asks for float32."""
    if request.precision == "fp16":
        raise SettingsError("OpenVINO runs on the CPU, in bfloat16 where the CPU has it or "
                            "float32: drop --precision fp16, or give --precision fp32")
    return OpenVinoBackend(request.model_path, request.cpu_threads, request.precision)


def other_devices(request: Request) -> dict[str, Callable[[], Backend]]:
    """OpenVINO's devices besides the CPU present here (an Intel GPU or NPU), each with how to
    build the backend on it: the calibration measures them beside the CPU engines."""
    if importlib.util.find_spec("openvino") is None:
        return {}
    devices = import_openvino().Core().available_devices
    return {device: partial(OpenVinoBackend, request.model_path, None, request.precision,
                            device=device)
            for device in devices if device.split(".")[0] in _ACCELERATORS}


def import_openvino() -> Any:
    """``import openvino``, without its telemetry.

    Importing OpenVINO sends a usage event to Google Analytics (the ``openvino-telemetry``
    package installed with it) from a thread pool, through a child made by ``fork()`` of the
    whole process while its other threads decode, run the model and encode. rtmatte runs
    locally and sends nothing. And a fork of a process whose native threads are running copies
    their locks and thread objects in mid-use: the child can hang for ever in Python's fork
    clean-up (the process then never exits: it waits for that child) or abort in C++ teardown
    ("terminate called without an active exception"), seen as runs that hang or die at a signal.
    OpenVINO uses its own no-op stub when that package cannot be imported, so it is made
    unimportable in this process (unless something imported it before).
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def unavailable(device: str) -> str | None:
    if importlib.util.find_spec("openvino") is None:
        return INSTALL_HINT
    openvino = import_openvino()
    if _DEVICE not in openvino.Core().available_devices:
        return "OpenVINO finds no CPU device it can run on here"
    return None


class OpenVinoBackend:
    """RVM on OpenVINO's CPU plugin, the recurrent state carried as numpy arrays."""

    def __init__(self, model_path: Path, cpu_threads: int | None = None,
                 precision: str = "auto", host_refine: bool = True, device: str = _DEVICE
                 ) -> None:
        """``cpu_threads``: OpenVINO's inference threads (default: its own, one per core).
        ``precision``: ``fp32`` forces float32; ``auto`` (or anything else a CPU takes) keeps
        OpenVINO's default for this CPU, bfloat16 where the CPU has it, else float32.
        ``host_refine`` runs the coarse graph and the guided filter's last step with OpenCV,
        as the ONNX Runtime backend does on the CPU; a graph of another shape is run whole.
        ``device``: OpenVINO's name of the device to run on (``CPU``, or one from
        :func:`other_devices`)."""
        if importlib.util.find_spec("openvino") is None:
            raise BackendUnavailable(INSTALL_HINT)
        openvino = import_openvino()
        self._ov = openvino
        self._core = openvino.Core()
        coarse = ensure_coarse(model_path) if host_refine else None
        #: True when the graph stops at the refiner's maps and :func:`apply_maps` finishes it
        self.host_refine = coarse is not None
        try:
            self._model = self._core.read_model(str(coarse or model_path))
        except RuntimeError as exc:  # OpenVINO's reader raises plain RuntimeErrors
            raise ModelError(f"OpenVINO cannot read {model_path}: "
                             f"{str(exc).strip().splitlines()[0]}") from exc
        names = {name for port in self._model.inputs for name in port.get_names()}
        if not set(INPUTS) <= names:
            raise ModelError(f"{model_path} is not an RVM model OpenVINO can run: its inputs are "
                             f"{sorted(names)}, expected {sorted(INPUTS)} (a graph exported "
                             "with a fixed ratio runs with --backend onnx)")
        self._channels = _state_channels(self._model, model_path)
        self._outputs = [GAIN, OFFSET] if self.host_refine else [FGR, PHA]
        self._outputs += list(STATE_OUTPUTS)
        self._device = device
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if cpu_threads and device == _DEVICE:
            self._config["INFERENCE_NUM_THREADS"] = cpu_threads
        if device != _DEVICE:  # a GPU compile takes seconds: OpenVINO keeps its result on disk
            self._config["CACHE_DIR"] = str(models_home().parent / "openvino")
        if precision == "fp32":
            self._config["INFERENCE_PRECISION_HINT"] = "f32"
            #: what OpenVINO runs the network's arithmetic in: ``bf16`` or ``f32`` on CPUs,
            #: ``f16`` by default on GPUs
            self.precision = "f32"
        else:
            self.precision = _precision_of(self._core, device)
        self.name = f"openvino/{device}/{self.precision}"
        self.baked_ratio: float | None = None  # takes the ratio per frame
        self.whole_frame_only = None if device == _DEVICE else (
            f"OpenVINO compiles the model for each picture size on the {device} (seconds each)")
        self._compiled: OrderedDict[tuple[int, int, float], _Compiled] = OrderedDict()

    def initial_state(self) -> None:
        """None: the compiled models take their states' exact shapes, known only with the first
        frame, whose zeros :meth:`infer` then makes."""
        return None

    def infer(self, rgb: np.ndarray, state: list[np.ndarray] | None, downsample_ratio: float
              ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        frame = rgb.astype(np.float32)
        frame *= _SCALE
        src = np.ascontiguousarray(frame.transpose(2, 0, 1))[np.newaxis]
        compiled = self._compiled_for(rgb.shape[0], rgb.shape[1], downsample_ratio)
        if state is None:
            state = compiled.zero_state()
        feeds = {SRC: src, **dict(zip(STATE_INPUTS, state, strict=True))}
        # the inputs are read in place (nothing here changes them during the call); the outputs
        # come back as copies, so the next call cannot overwrite a state or matte handed out
        results = compiled.request.infer(feeds, share_inputs=True)
        first, second, *next_state = (results[compiled.port(name)] for name in self._outputs)
        if self.host_refine:
            alpha, fgr = apply_maps(frame, first[0], second[0])
            return alpha, fgr, next_state
        return second[0, 0], cv2.merge(list(first[0])), next_state

    def _compiled_for(self, height: int, width: int, ratio: float) -> _Compiled:
        key = (height, width, float(ratio))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compile(height, width, float(ratio))
            self._compiled[key] = compiled
            if len(self._compiled) > _COMPILED_KEPT:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        return compiled

    def _compile(self, height: int, width: int, ratio: float) -> _Compiled:
        """The model for one frame size and ratio: the ratio input replaced by its value (as
        the float32 the graph would have been fed), then every input's shape pinned, so
        OpenVINO plans each layer for its real size."""
        model = self._model.clone()
        parameter = next(p for p in model.get_parameters() if RATIO in p.output(0).get_names())
        constant = self._ov.op.Constant(np.array([ratio], dtype=np.float32))
        parameter.output(0).replace(constant.output(0))
        model.remove_parameter(parameter)
        shapes = state_shapes(height, width, ratio, self._channels)
        model.reshape({SRC: [1, 3, height, width],
                       **{name: list(shape) for name, shape in zip(STATE_INPUTS, shapes,
                                                                    strict=True)}})
        try:
            compiled = self._core.compile_model(model, self._device, self._config)
        except RuntimeError as exc:
            raise ModelError(f"OpenVINO could not compile the model for {width}x{height} at "
                             f"ratio {ratio:g}: {str(exc).strip().splitlines()[0]}") from exc
        return _Compiled(compiled, shapes)


class _Compiled:
    """One compiled model, its infer request and the shapes of the states it takes."""

    def __init__(self, compiled: Any, shapes: list[tuple[int, int, int, int]]) -> None:
        self.request = compiled.create_infer_request()
        self._ports = {name: port for port in compiled.outputs for name in port.get_names()}
        self._shapes = shapes

    def port(self, name: str) -> Any:
        return self._ports[name]

    def zero_state(self) -> list[np.ndarray]:
        """Zeros of the full shapes: what RVM's 1x1x1x1 zeros broadcast to on a first frame."""
        return [np.zeros(shape, dtype=np.float32) for shape in self._shapes]


def _precision_of(core: Any, device: str) -> str:
    """The precision OpenVINO runs the network in on ``device`` by default (``bf16``, ``f32``,
    ``f16``); ``default`` where the device does not say (an NPU may not)."""
    try:
        return core.get_property(device, "INFERENCE_PRECISION_HINT").get_type_name()
    except RuntimeError:
        return "default"


def _state_channels(model: Any, model_path: Path) -> tuple[int, ...]:
    """Each recurrent state's channel count, from r1o..r4o, for the first frame's zeros."""
    shapes = {name: port.get_partial_shape() for port in model.outputs
              for name in port.get_names()}
    channels = []
    for name in STATE_OUTPUTS:
        shape = shapes.get(name)
        if shape is None or shape.rank.is_dynamic or shape[1].is_dynamic:
            raise ModelError(f"{model_path} does not declare the channel count of its recurrent "
                             f"state {name}, which OpenVINO's fixed-shape models need")
        channels.append(shape[1].get_length())
    return tuple(channels)
