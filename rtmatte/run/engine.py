"""The engine: what happens to a frame, written once. Model (the :class:`Matter`), post chain,
background switch and compositor are built here from :class:`Settings` and nowhere else; the
file driver, the live driver, the API, the server and the benches hand frames to its verbs and
differ only in how the frames come and go.

Verbs: :meth:`Engine.infer` (the model's raw matte), :meth:`Engine.refine` (the post chain),
:meth:`Engine.composite` (onto the background in use), :meth:`Engine.picture` (all three for one
still picture), and :meth:`Engine.live` for the pacing a live source needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rtmatte.compose.background_switch import BackgroundSwitch
from rtmatte.compose.backgrounds import Background
from rtmatte.compose.compositor import Compositor
from rtmatte.matting.adaptive import LivePacer
from rtmatte.matting.backends import Backend, create_backend
from rtmatte.matting.matter import Matter
from rtmatte.matting.mirror import MirrorMatter
from rtmatte.matting.models.quantize import ensure_quantized
from rtmatte.matting.open import live_cpu_threads, model_path
from rtmatte.post import PostChain, build_post
from rtmatte.settings import Settings
from rtmatte.types import Frame, Matte, Notify


def open_matter(settings: Settings, notify: Notify | None = None, cpu_threads: int | None = None,
                live: bool = False) -> Matter:
    """The settings' model on their backend; ``live``: as the live path runs it (int8 weights
    when asked for, on all cores but one unless ``cpu_threads`` says, never mirror averaging:
    twice the model's time would halve the working size the frame budget allows)."""
    path = model_path(settings, notify)
    if live:
        if settings.live.int8:
            path = ensure_quantized(path, notify=notify)
        cpu_threads = cpu_threads or live_cpu_threads()
        if settings.mirror and notify is not None:
            notify("mirror averaging (the quality preset) is for files: the live path runs the "
                   "model once a frame")

    def backend() -> Backend:
        return create_backend(path, settings.backend, settings.device, cpu_threads=cpu_threads,
                              precision=settings.precision, notify=notify)

    ratio, long_side = settings.downsample_ratio, settings.auto_long_side
    if settings.mirror and not live:  # the mirrored frames' state runs on a backend of its own
        mirrored = Matter(backend(), ratio, detect_cuts=False, auto_long_side=long_side)
        return MirrorMatter(backend(), mirrored, ratio, auto_long_side=long_side)
    return Matter(backend(), ratio, auto_long_side=long_side)


class Engine:
    """One model with its post chain and background switch, built once from the settings.

    Not safe to share between threads: the Matter and the post chain carry state from frame to
    frame (a pool lends whole engines, as the server's pictures do).
    """

    def __init__(self, settings: Settings, matter: Matter,
                 switch: BackgroundSwitch | None = None) -> None:
        self.settings = settings
        self.matter = matter
        self.post: PostChain = build_post(settings.post)
        #: the compositors to switch between; None: only transparent pictures are made
        self.switch = switch or BackgroundSwitch(["transparent"], settings.post)

    @classmethod
    def open(cls, settings: Settings, notify: Notify | None = None, *,
             backgrounds: Sequence[str] | None = None, matter: Matter | None = None,
             cpu_threads: int | None = None, live: bool = False) -> Engine:
        """Backgrounds first (``backgrounds``, default the settings' ``bg``), then the model,
        the slow part: a bad background is refused before it loads. ``matter`` is one built by
        the caller, ``cpu_threads`` and ``live`` as in :func:`open_matter`."""
        switch = BackgroundSwitch(list(backgrounds or [settings.bg]), settings.post, notify,
                                  settings.max_picture_pixels)
        return cls(settings, matter or open_matter(settings, notify, cpu_threads, live), switch)

    @property
    def compositor(self) -> Compositor:
        return self.switch.compositor

    @property
    def transparent(self) -> bool:
        return self.compositor.transparent

    @property
    def backend_name(self) -> str:
        """What runs the model (e.g. ``openvino/CPU/bf16``)."""
        return self.matter.backend.name

    def reset(self) -> None:
        """The next frame starts a clip of its own: no state carried over from the last."""
        self.matter.reset()
        self.post.reset()

    def infer(self, rgb: np.ndarray) -> Matte:
        """The model's matte of the next frame, recurrent state carried."""
        return self.matter(rgb)

    def refine(self, rgb: np.ndarray, raw: Matte) -> Matte:
        """The post chain's matte from the model's."""
        return self.post(rgb, raw)

    def finish(self) -> None:
        """The clip ended: the post chain refuses what it could only judge at the end."""
        self.post.finish()

    def judge_nobody(self) -> None:
        """A run in which no delivered frame held a person ended: a fresh post chain judges that
        end (``--keep X,Y`` is refused). The chain in use cannot: it restarts when the frame size
        changes and when everyone leaves."""
        build_post(self.settings.post).finish()

    def composite(self, frame: Frame, matte: Matte) -> np.ndarray:
        """``frame`` on the background in use (RGBA when it is transparent)."""
        return self.compositor(frame, matte)

    def picture(self, rgb: np.ndarray,
                own_alpha: np.ndarray | None = None) -> tuple[np.ndarray, Frame, Matte]:
        """One still picture as the first frame of its own clip: (picture, frame, matte).
        ``own_alpha``: what the picture already hides stays hidden."""
        self.reset()
        return still(self.post, self.compositor, rgb, self.infer(rgb), own_alpha)

    def live(self, budget_s: float) -> LivePacer:
        """The live mode: this engine's model and post chain paced to ``budget_s`` a frame (the
        settings' ``[live]`` table: adaptation, cadence, ``--delay``, the crop)."""
        live = self.settings.live
        # the crop's scout: the same model on the same backend, with a recurrent state of its own
        scout = Matter(self.matter.backend, detect_cuts=False) if live.crop else None
        return LivePacer(self.matter, self.post, budget_s, adapt=live.adapt,
                          every=live.matte_every, delay=live.delay, scout=scout)


def dress(settings: Settings, rgb: np.ndarray, raw: Matte, own_alpha: np.ndarray | None,
          background: Background | None) -> np.ndarray:
    """The picture a model's matte ``raw`` of the still ``rgb`` becomes, through a post chain
    and compositor of its own (nothing shared, so it may run beside the next inference)."""
    return still(build_post(settings.post), Compositor(background, settings.post), rgb, raw,
                 own_alpha)[0]


def still(post: PostChain, compositor: Compositor, rgb: np.ndarray, raw: Matte,
          own_alpha: np.ndarray | None) -> tuple[np.ndarray, Frame, Matte]:
    """A still picture from its model matte ``raw``: (picture, frame, matte). Written once for
    :meth:`Engine.picture` and :func:`dress`, so the command line, the API and the server give
    one picture the same matte: the post chain, ended as a one-frame clip (``--keep X,Y`` with
    nobody in the picture is refused), then what the picture already hides (``own_alpha``)
    kept hidden, then the composite."""
    matte = post(rgb, raw)
    post.finish()
    if own_alpha is not None:
        matte = Matte(alpha=matte.alpha * own_alpha, fgr=matte.fgr)
    frame = Frame(rgb=rgb, index=0)
    return compositor(frame, matte), frame, matte


def open_live_matter(settings: Settings, budget_s: float, notify: Notify | None = None,
                     cpu_threads: int | None = None) -> LivePacer:
    """The model as the live path runs it: sized to keep up within ``budget_s`` a frame, on
    ``cpu_threads`` (default: all cores but one)."""
    return Engine(settings, open_matter(settings, notify, cpu_threads, live=True)).live(budget_s)
