"""Replaying one frame's GPU work as a CUDA graph instead of launching its kernels one by one.

RVM's MobileNetV3 network is a few hundred small kernels. On a fast GPU each runs in microseconds,
so launching them from Python costs more than running them, and the GPU waits on the CPU. A CUDA
graph records the launches once and replays them with a single call. A graph is fixed to the
shapes and memory it was recorded with, so there is one per (frame size, ratio, state shapes),
fed through static buffers the frame and state are copied into. The first frame of a clip, whose
state is 1x1x1x1 zeros, runs eagerly: it sets the state shapes the graph is then recorded for.

Recording can fail on a PyTorch or driver that cannot capture some kernel; the step then runs
eagerly for good, and :attr:`GraphedStep.disabled` says why.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType
from typing import Any

#: graphs kept at once; each holds its own copy of the activations (tens of MB at 4K), and the
#: live path's adaptive working size moves through a handful of ratios
_KEEP = 4
#: eager runs on a side stream before recording, as PyTorch asks: lazy initialisation (cuDNN's
#: algorithm search, allocator pools) must not happen inside the capture
_WARMUP = 3


class _Recorded:
    def __init__(self, graph: Any, inputs: tuple, outputs: tuple) -> None:
        self.graph, self.inputs, self.outputs = graph, inputs, outputs


class GraphedStep:
    """Wraps ``step(frame, r1, r2, r3, r4, ratio) -> (alpha, fgr, r1, r2, r3, r4)``, a function of
    device tensors only, so repeated calls with the same shapes replay a recorded graph.

    The tensors it returns are the graph's own output buffers: read (or copy) them before the
    next call, which overwrites them. Passing them back as the next state is what they are for.
    """

    def __init__(self, torch: ModuleType, step: Callable[..., tuple]) -> None:
        self._torch = torch
        self._step = step
        self._graphs: OrderedDict[tuple, _Recorded] = OrderedDict()
        self.disabled: str | None = None

    def __len__(self) -> int:
        """Graphs recorded and held."""
        return len(self._graphs)

    def __call__(self, frame: Any, state: tuple, ratio: float) -> tuple:
        if self.disabled or any(s.shape[1] == 1 for s in state):  # a clip's first frame
            return self._step(frame, *state, ratio)
        key = (tuple(frame.shape), ratio, *(tuple(s.shape) for s in state))
        recorded = self._graphs.get(key)
        if recorded is None:
            try:
                recorded = self._record(frame, state, ratio)
            except RuntimeError as exc:  # an uncapturable kernel: keep running eagerly
                self.disabled = str(exc).splitlines()[0]
                return self._step(frame, *state, ratio)
            self._graphs[key] = recorded
            if len(self._graphs) > _KEEP:
                self._graphs.popitem(last=False)
        self._graphs.move_to_end(key)
        for buffer, value in zip(recorded.inputs, (frame, *state), strict=True):
            if buffer.data_ptr() != value.data_ptr():
                buffer.copy_(value)
        recorded.graph.replay()
        return recorded.outputs

    def _record(self, frame: Any, state: tuple, ratio: float) -> _Recorded:
        torch = self._torch
        inputs = tuple(value.clone() for value in (frame, *state))
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(_WARMUP):
                self._step(*inputs, ratio)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self._step(*inputs, ratio)
        return _Recorded(graph, inputs, tuple(outputs))
