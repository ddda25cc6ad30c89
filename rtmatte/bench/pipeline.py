"""`rtmatte bench`: where the time goes, measured side by side in one run on the same clip.

(a) PyAV decode + encode alone, (b) the model alone on frames already in memory, (c) a naive
single-threaded loop written the way RVM's documentation shows it (decode → model → composite in
float → encode), (d) rtmatte's threaded pipeline. Machines are noisy, so the ratios between
figures taken in the same run are what to compare, not absolute fps across runs.

(b) and (d) run on the backend asked for (ONNX Runtime on the CPU unless told otherwise; with
``--backend auto`` on a CPU, the engine its calibration chose, and why); (c) is always the
documented CPU loop. On a GPU the figure to read is (d) against (a): a pipeline whose
model is fast enough runs at the speed of decode and encode.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import onnxruntime as ort

from rtmatte import api
from rtmatte.matting.rvm.tensors import RATIO, SRC, STATE_INPUTS
from rtmatte.samples import make_clip, sunset_background
from rtmatte.settings import load_settings


def _encoder(container: av.container.OutputContainer, width: int, height: int,
             time_base: Fraction) -> av.video.stream.VideoStream:
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    stream.options = {"crf": "18", "preset": "veryfast"}
    return stream


def time_transcode(clip: Path, out: Path) -> float:
    """(a) decode every frame to RGB and encode it again: the floor any tool pays."""
    began = time.perf_counter()
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        video = source.streams.video[0]
        stream = None
        for frame in source.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            if stream is None:
                stream = _encoder(target, rgb.shape[1], rgb.shape[0], video.time_base)
            encoded = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            encoded.pts, encoded.time_base = frame.pts, video.time_base
            target.mux(stream.encode(encoded))
        target.mux(stream.encode())
    return time.perf_counter() - began


def time_model(frames: list[np.ndarray], matter) -> float:
    """(b) the Matter alone over decoded frames (one warm-up frame not counted)."""
    matter.reset()
    matter(frames[0])
    began = time.perf_counter()
    for rgb in frames:
        matter(rgb)
    return time.perf_counter() - began


def time_naive(clip: Path, out: Path, model_file: Path, ratio: float,
               background: np.ndarray) -> float:
    """(c) one thread, one frame at a time, float maths on full frames."""
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    states = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    began = time.perf_counter()
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        video = source.streams.video[0]
        stream = None
        bg = None
        for frame in source.decode(video):
            rgb = frame.to_ndarray(format="rgb24")
            if stream is None:
                stream = _encoder(target, rgb.shape[1], rgb.shape[0], video.time_base)
                bg = _fit(background, rgb.shape[0], rgb.shape[1]).astype(np.float32) / 255.0
            src = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
            feeds = {SRC: src, RATIO: np.array([ratio], np.float32)}
            feeds.update(zip(STATE_INPUTS, states, strict=True))
            fgr, pha, *states = session.run(None, feeds)
            fgr, pha = fgr[0].transpose(1, 2, 0), pha[0].transpose(1, 2, 0)
            composite = fgr * pha + bg * (1 - pha)
            picture = (composite * 255).astype(np.uint8)
            encoded = av.VideoFrame.from_ndarray(picture, format="rgb24")
            encoded.pts, encoded.time_base = frame.pts, video.time_base
            target.mux(stream.encode(encoded))
        target.mux(stream.encode())
    return time.perf_counter() - began


def _fit(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    from rtmatte.compose.backgrounds import cover_fit

    return cover_fit(picture, height, width)


def model_profile(model_file: Path, rgb: np.ndarray, ratio: float, runs: int = 8) -> dict:
    """Share of the model's kernel time spent at full frame resolution (the guided-filter
    refiner and the final upsampling) versus the low-resolution network, from ONNX Runtime's
    own per-node profile. Tells whether the refiner is worth replacing."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "rtmatte-ort-profile")
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    src = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()
    states = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    for _ in range(runs):
        feeds = {SRC: src, RATIO: np.array([ratio], np.float32)}
        feeds.update(zip(STATE_INPUTS, states, strict=True))
        _fgr, _pha, *states = session.run(None, feeds)
    trace = Path(session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    full = low = 0
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        shapes = [dims for out in event.get("args", {}).get("output_type_shape", [])
                  for dims in out.values()]
        if any(len(d) == 4 and d[2] == rgb.shape[0] for d in shapes):
            full += event["dur"]
        else:
            low += event["dur"]
    total = max(full + low, 1)
    return {"full_resolution_share": round(full / total, 3),
            "low_resolution_share": round(low / total, 3)}


def cpu_choice(backend: str, device: str, precision: str, model_file: Path) -> str | None:
    """Why ``--backend auto`` runs the CPU engine it runs, from the calibration it has just read
    or made; None when the backend was named or auto runs on a GPU."""
    if backend != "auto":
        return None
    from rtmatte.matting.backends import Request, cpu_contenders, fastest_present
    from rtmatte.matting.backends.calibrate import cpu_calibration

    auto = fastest_present(device)
    if auto is None or auto[1] != "cpu":
        return None
    calibration = cpu_calibration(Request(model_file, "cpu", precision), cpu_contenders(),
                                  measure=False)
    return f"{calibration.chosen}: {calibration.reason()}" if calibration else None


def run_bench(size: tuple[int, int], frames: int, settings_overrides: dict,
              rounds: int = 3, beside: Sequence[Callable[[], None]] = ()) -> dict:
    """Each measurement ``rounds`` times, interleaved (a b c d a b c d …), median kept, so a
    burst of load elsewhere on the machine hits one round of every figure alike. ``beside``:
    one round each of other measurements (the live crop's), taken in turn with these."""
    settings = load_settings(overrides=settings_overrides)
    model_file = api.model_path(settings)
    with tempfile.TemporaryDirectory(prefix="rtmatte-bench-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "clip.mp4", frames=frames, size=size, fps=24)
        background = sunset_background(*size)
        bg_file = folder / "bg.png"
        import cv2

        cv2.imwrite(str(bg_file), cv2.cvtColor(background, cv2.COLOR_RGB2BGR))
        settings.bg = str(bg_file)
        with av.open(str(clip)) as source:
            decoded = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
        job = api.Job(settings, progress=False)
        choice = cpu_choice(settings.backend, settings.device, settings.precision, model_file)
        ratio = job.engine.matter.ratio_for(size[1], size[0])
        samples: dict[str, list[float]] = {"transcode": [], "model": [], "naive": [],
                                           "rtmatte": []}
        runs = []
        for turn in range(rounds):
            samples["transcode"].append(time_transcode(clip, folder / f"a{turn}.mp4"))
            samples["model"].append(time_model(decoded, job.engine.matter))
            samples["naive"].append(
                time_naive(clip, folder / f"c{turn}.mp4", model_file, ratio, background))
            runs.append(job.run(clip, folder / f"d{turn}.mp4"))
            samples["rtmatte"].append(runs[-1].seconds)
            for measure in beside:
                measure()
        seconds = {name: statistics.median(values) for name, values in samples.items()}
        result = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
        profile = model_profile(model_file, decoded[len(decoded) // 2], ratio)
    fps = {name: len(decoded) / value for name, value in seconds.items()}
    return {
        "size": f"{size[0]}x{size[1]}", "frames": len(decoded), "rounds": rounds,
        "downsample_ratio": ratio,
        "backend": result.backend, "cpu_engine_choice": choice,
        "fps": {k: round(v, 2) for k, v in fps.items()},
        "ratios": {"rtmatte_vs_naive": round(fps["rtmatte"] / fps["naive"], 3),
                   "rtmatte_vs_model": round(fps["rtmatte"] / fps["model"], 3),
                   "rtmatte_vs_transcode": round(fps["rtmatte"] / fps["transcode"], 3)},
        "rtmatte_stages_ms": {k: v["ms_per_item"] for k, v in result.stages.items()},
        "model_profile": profile,
    }
