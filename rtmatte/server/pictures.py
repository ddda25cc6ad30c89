"""Cutting out single pictures with warm models: what ``POST /api/remove`` runs.

Loading the model takes seconds and a picture takes a fraction of one, so models are loaded
once and lent out. An engine's Matter carries recurrent state and is not safe to share between
threads, so each engine is lent to one request at a time; the pool's size is how many pictures
are matted at once (one per core group: on a small CPU one model already uses every core).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from rtmatte.compose.backgrounds import Background
from rtmatte.run.engine import Engine, dress, open_matter
from rtmatte.settings import Settings


class EnginePool:
    """``size`` warm engines; :meth:`borrow` waits for a free one."""

    def __init__(self, settings: Settings, size: int = 1) -> None:
        self.settings = settings
        self.size = size
        self._idle: queue.Queue[Engine] = queue.Queue()
        self._loaded = False
        self._loading = threading.Lock()
        #: what runs the model (e.g. ``openvino/CPU/bf16``), once loaded
        self.backend_name = ""

    def warm(self) -> None:
        """Load every model now rather than on the first request."""
        with self._loading:
            if not self._loaded:
                for _ in range(self.size):
                    engine = Engine(self.settings, open_matter(self.settings))
                    self._idle.put(engine)
                self.backend_name = engine.backend_name
                self._loaded = True

    @contextmanager
    def borrow(self) -> Iterator[Engine]:
        self.warm()
        engine = self._idle.get()
        try:
            yield engine
        finally:
            self._idle.put(engine)


def cut_out(pool: EnginePool, rgb: np.ndarray, own_alpha: np.ndarray | None,
            background: Background | None) -> np.ndarray:
    """The picture the command line writes for ``rgb``: RGBA when ``background`` is None (the
    transparent choice), else the composite. The model is held only while it runs; the post
    steps and the compositing of one request overlap the next request's inference."""
    with pool.borrow() as engine:
        engine.reset()  # a picture is the first frame of its own clip
        raw = engine.infer(rgb)
    return dress(pool.settings, rgb, raw, own_alpha, background)
