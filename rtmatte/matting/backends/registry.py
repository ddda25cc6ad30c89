"""The registry's vocabulary: the contract every backend meets, what it is asked for, and the
one list of backends with what each needs. Kept apart from the choosing (the package's
``create_backend``) so that modules which measure or describe backends, the calibration among
them, read the list without importing the code that chooses."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rtmatte.errors import SettingsError
from rtmatte.types import Notify

if TYPE_CHECKING:
    import numpy as np

DEVICES = ("auto", "cpu", "cuda")
#: what a backend can run the network in on a GPU; on a CPU it is float32 (CPUs have no fast
#: float16 convolutions), or bfloat16 where OpenVINO's ``auto`` finds the CPU has it
GPU_PRECISIONS = ("fp16", "fp32")
#: ``auto`` is float16 on a GPU and float32 on a CPU
PRECISIONS = ("auto", *GPU_PRECISIONS)


class Backend(Protocol):
    """Runs one recurrent matting step."""

    #: what ran, for stats and messages, e.g. "onnxruntime/CPUExecutionProvider"
    name: str
    #: the downsample ratio fixed inside an exported graph, which then wins over any asked for;
    #: None when the model takes the ratio per frame (every backend but an ONNX export; a
    #: third-party backend that leaves it out is taken as None)
    baked_ratio: float | None
    #: None where each run may be given a picture of a new size at little cost, with two
    #: recurrent states taking turns (what the live path's person crop needs); otherwise why
    #: not, in a person's words: an export pinned to one frame size, TensorRT (an engine built
    #: per shape, minutes), a CUDA graph (its state buffers are shared by every state of one
    #: shape), OpenVINO's GPU and NPU (seconds per shape). A GPU mattes the whole frame in time
    whole_frame_only: str | None

    def initial_state(self) -> Any:
        """The recurrent state for the first frame of a clip."""

    def infer(
        self, rgb: np.ndarray, state: Any, downsample_ratio: float
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """Matte one frame.

        ``rgb`` is uint8 (H, W, 3). Returns ``alpha`` float32 (H, W) and ``fgr`` float32
        (H, W, 3), both in [0, 1] and possibly non-contiguous views, and the next state.
        """


@dataclass(frozen=True)
class Request:
    """What a backend is asked for, as the user gave it: a module's ``create`` turns it into a
    backend. ``device`` may still be ``auto`` and ``precision`` ``auto``."""

    model_path: Path
    device: str = "auto"
    precision: str = "auto"
    #: threads of the engine's CPU pool (default one per core)
    cpu_threads: int | None = None
    #: where a one-line note for the person running rtmatte goes (e.g. why ``--backend auto``
    #: chose without measuring); None: nowhere. Library code never prints.
    notify: Notify | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BackendEntry:
    """One backend: what it needs, where it runs, how it is probed and built.

    ``module`` defines ``create(request: Request) -> Backend`` and ``unavailable(device: str) ->
    str | None`` (why it cannot run on that device here, as a message with the fix; None when it
    can). It is imported only when one of them is needed.
    """

    #: its ``--backend`` value
    name: str
    module: str
    #: the Python packages it imports, for ``doctor``
    needs: tuple[str, ...]
    #: what runs the network, in a person's words
    library: str
    #: each device it runs on, with what ``--backend auto`` running it there is, for ``doctor``
    runs: Mapping[str, str]
    #: ``--backend auto`` tries backends on a GPU from the lowest rank up, then on the CPU
    auto_rank: int
    #: the precisions it runs the network in on a GPU, each measured by the model bench
    precisions: tuple[str, ...] = GPU_PRECISIONS
    #: the same on a CPU, as ``--precision`` names them (``auto``: the engine's own choice for
    #: this CPU, e.g. OpenVINO's bfloat16 where the CPU has it)
    cpu_precisions: tuple[str, ...] = ("fp32",)
    #: on a CPU, ``--backend auto`` measures it against the other such backends present and runs
    #: the fastest whose mattes match ONNX Runtime's float32 (:mod:`.calibrate`), rather than
    #: going by ``auto_rank`` alone
    cpu_calibrated: bool = False

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.runs)

    def unavailable(self, device: str) -> str | None:
        """Why it cannot run on ``device`` here, with the fix; None when it can."""
        return self._module().unavailable(device)

    def present(self, device: str) -> bool:
        """Whether it can run on ``device`` here: a quick probe that loads no model."""
        return self.unavailable(device) is None

    def create(self, request: Request) -> Backend:
        return self._module().create(request)

    def _module(self) -> Any:
        return importlib.import_module(self.module)


#: every backend by name, in the order the CLI offers them
REGISTRY: dict[str, BackendEntry] = {}


def register_backend(entry: BackendEntry) -> None:
    """Offer ``entry`` everywhere backends are offered; an entry of the same name is replaced."""
    REGISTRY[entry.name] = entry


def backend_names() -> tuple[str, ...]:
    """The registered backends, without ``auto``."""
    return tuple(REGISTRY)


class _BackendChoices(Sequence[str]):
    """``auto`` and every registered backend, read from the registry at each use, so a backend
    registered after this module was imported is a choice everywhere too."""

    def __getitem__(self, index: Any) -> Any:
        return ("auto", *REGISTRY)[index]

    def __len__(self) -> int:
        return 1 + len(REGISTRY)

    def __repr__(self) -> str:
        return repr(tuple(self))


#: the values of ``--backend``, for argparse choices and settings validation
BACKENDS: Sequence[str] = _BackendChoices()


def check_choice(what: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise SettingsError(f"unknown {what} '{value}'; choose one of {', '.join(choices)}")


