"""Building the matting stage from settings: the verified model file, a backend, the Matter, and
the adaptive form the live path runs."""

from __future__ import annotations

import os
from pathlib import Path

from rtmatte.errors import UserError
from rtmatte.matting.adaptive import LiveMatter
from rtmatte.matting.backends import create_backend
from rtmatte.matting.matter import Matter
from rtmatte.matting.models.fetch import ensure_model
from rtmatte.matting.models.quantize import ensure_quantized
from rtmatte.post import build_post
from rtmatte.settings import Settings
from rtmatte.types import Notify


def model_path(settings: Settings, notify: Notify | None = None) -> Path:
    """The verified model file the settings name: ``model_path`` as given, else the catalogue's."""
    if settings.model_path is not None:
        path = Path(settings.model_path)
        if not path.is_file():
            raise UserError(f"--model {path}: no such file")
        return path
    return ensure_model(settings.model, notify=notify)


def open_matter(settings: Settings | None = None, notify: Notify | None = None) -> Matter:
    """A frame-level Matter: call it with uint8 RGB frames in order, get :class:`Matte` back."""
    settings = settings or Settings()
    backend = create_backend(model_path(settings, notify), settings.backend, settings.device,
                             precision=settings.precision)
    return Matter(backend, downsample_ratio=settings.downsample_ratio)


def live_cpu_threads() -> int:
    """ONNX Runtime threads for a live run: every core but one, which capture, compositing and
    output need (measured: docs/benchmarks.md, "Live path")."""
    return max(1, (os.cpu_count() or 2) - 1)


def open_live_matter(settings: Settings, budget_s: float, notify: Notify | None = None,
                     cpu_threads: int | None = None) -> LiveMatter:
    """The model as the live path runs it: sized to keep up within ``budget_s`` a frame, on
    ``cpu_threads`` (default: all cores but one)."""
    path = model_path(settings, notify)
    if settings.live.int8:
        path = ensure_quantized(path, notify=notify)
    backend = create_backend(path, settings.backend, settings.device,
                             cpu_threads=cpu_threads or live_cpu_threads(),
                             precision=settings.precision)
    matter = Matter(backend, downsample_ratio=settings.downsample_ratio)
    return LiveMatter(matter, build_post(settings.post), budget_s, adapt=settings.live.adapt,
                      every=settings.live.matte_every, delay=settings.live.delay)


