"""The background switch: the compositors a run can change between while it runs."""

from __future__ import annotations

from collections.abc import Sequence

from rtmatte.compose.backgrounds import parse_background
from rtmatte.compose.compositor import Compositor, EdgeTreatment
from rtmatte.media import MAX_PICTURE_PIXELS
from rtmatte.types import Notify


class BackgroundSwitch:
    """One compositor per background a run can switch between, all parsed up front so that a
    bad one is reported before the camera opens rather than when its key is pressed mid-call;
    :attr:`compositor` is the one in use."""

    def __init__(self, specs: Sequence[str], edges: EdgeTreatment | None = None,
                 notify: Notify | None = None, max_pixels: int = MAX_PICTURE_PIXELS) -> None:
        self.specs = list(specs)
        self.edges = edges
        self.notify = notify
        self.max_pixels = max_pixels
        self._compositors: dict[str, Compositor] = {}
        for spec in self.specs:
            self._load(spec)
        self.index = 0
        self.compositor = self._load(self.specs[0])

    def _load(self, spec: str) -> Compositor:
        if spec not in self._compositors:
            self._compositors[spec] = Compositor(
                parse_background(spec, self.notify, self.max_pixels), self.edges)
        return self._compositors[spec]

    @property
    def current(self) -> str:
        return self.specs[self.index]

    def cycle(self) -> str:
        self.index = (self.index + 1) % len(self.specs)
        self.compositor = self._load(self.current)
        return self.current

    def use(self, spec: str) -> None:
        """Switch to ``spec`` (raises BackgroundError and keeps the current one if it is bad)."""
        compositor = self._load(spec)
        if spec not in self.specs:
            self.specs.append(spec)
        self.index = self.specs.index(spec)
        self.compositor = compositor
