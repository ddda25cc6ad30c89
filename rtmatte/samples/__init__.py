"""Embedded sample material, so the demo and the tests run with no download.

``astronaut.jpg`` is NASA's portrait of astronaut Eileen Collins (public domain), as shipped by
scikit-image. From it we generate short clips with camera motion and an audio track, and a
background picture, so everything downstream works on real pixels of a real person.
"""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import cv2
import numpy as np


def portrait() -> np.ndarray:
    """The sample portrait as uint8 RGB (512, 512, 3)."""
    data = resources.files(__package__).joinpath("astronaut.jpg").read_bytes()
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def sunset_background(width: int = 1280, height: int = 720) -> np.ndarray:
    """A generated sky-over-sea picture (uint8 RGB), the demo's stand-in for beach.jpg."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    sky_top, sky_low = np.array([40, 70, 160]), np.array([250, 170, 90])
    sea_top, sea_low = np.array([20, 90, 130]), np.array([10, 40, 70])
    horizon = 0.62
    t_sky = np.clip(y / horizon, 0, 1)[..., None]
    t_sea = np.clip((y - horizon) / (1 - horizon), 0, 1)[..., None]
    sky = sky_top * (1 - t_sky) + sky_low * t_sky
    sea = sea_top * (1 - t_sea) + sea_low * t_sea
    image = np.where((y < horizon)[..., None], sky, sea)
    distance = ((x - 0.7) * width) ** 2 + ((y - horizon + 0.05) * height) ** 2
    sun = np.exp(-distance / (0.05 * width) ** 2)
    image = image + sun[..., None] * np.array([255, 200, 120])
    shimmer = 12 * np.sin(x * 90 + y * 40) * (y > horizon)
    return np.clip(image + shimmer[..., None], 0, 255).astype(np.uint8)


def clip_frame(index: int, frames: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of a slow zoom-and-pan over the portrait, as uint8 RGB (height, width, 3)."""
    source = portrait()
    t = index / max(frames - 1, 1)
    zoom = 1.0 + 0.12 * t
    scale = zoom * max(width / source.shape[1], height / source.shape[0])
    shift_x = (width - source.shape[1] * scale) / 2 + 12 * np.sin(2 * np.pi * t)
    shift_y = (height - source.shape[0] * scale) / 2 + 6 * t
    matrix = np.array([[scale, 0, shift_x], [0, scale, shift_y]], dtype=np.float64)
    return cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def make_clip(
    path: Path,
    frames: int = 48,
    size: tuple[int, int] = (480, 360),
    fps: int = 24,
    audio: bool = True,
    codec: str = "libx264",
    keyframe_every: int | None = None,
) -> Path:
    """Write a short clip of the portrait with camera motion and, optionally, a stereo tone.

    ``keyframe_every`` fixes the H.264 group of pictures, so the clip can be cut at keyframes
    (the encoder otherwise puts one keyframe at the start of a short clip)."""
    path = Path(path)
    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        if codec == "libx264":
            video.options = {"crf": "18", "preset": "veryfast"}
            if keyframe_every:
                video.options |= {"g": str(keyframe_every), "keyint_min": str(keyframe_every)}
        sound = container.add_stream("aac", rate=48000, layout="stereo") if audio else None
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(index, frames, width, height), "rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            _write_tone(container, sound, frames / fps)
    return path


def _write_tone(container: av.container.OutputContainer, stream, seconds: float) -> None:
    rate, block = 48000, 1024
    total = round(seconds * rate)
    for start in range(0, total, block):
        n = min(block, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float32)
        tone = 0.2 * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
        samples = np.stack([tone, tone]).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
