"""``rtmatte doctor``: what works on this machine, and what to do about what does not.

Every check is quick: no model is downloaded, no camera light is switched on on Linux (device
nodes are listed, not opened), and a missing piece is reported with the command that adds it
rather than as an error. The one thing it may write is the CPU engine calibration that
``--backend auto`` would otherwise make on its first run (a few seconds, then cached), so that
it can say which engine runs and why.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rtmatte import __version__

_V4L = Path("/sys/class/video4linux")
_PROBE_INDICES = 4


@dataclass
class Check:
    area: str
    ok: bool | None  # None: information, neither good nor bad
    detail: str


def check_backends() -> list[Check]:
    import onnxruntime as ort

    from rtmatte.matting.backends import REGISTRY, fastest_present
    from rtmatte.matting.backends.calibrate import package_version
    from rtmatte.matting.models.catalogue import default_model_id, get_model
    from rtmatte.matting.models.fetch import cached_path, is_cached

    providers = ort.get_available_providers()
    found = [Check("inference", True, f"onnxruntime {ort.__version__}: {', '.join(providers)}")]
    told = {"onnxruntime"}
    for backend in REGISTRY.values():
        for package in backend.needs:
            if package not in told and importlib.util.find_spec(package) is not None:
                found.append(Check("inference", True, f"{package} {package_version(package)} "
                                                      f"installed (--backend {backend.name})"))
            told.add(package)
    for backend in REGISTRY.values():
        if backend.cpu_calibrated and not backend.present("cpu"):
            found.append(Check("inference", None, f"{backend.unavailable('cpu')} (--backend "
                                                  f"{backend.name}; may run faster on this CPU)"))
    auto = fastest_present()
    entry = get_model(default_model_id())
    if auto and auto[1] == "cpu" and auto[0].cpu_calibrated:
        found += check_cpu_engine(cached_path(entry) if is_cached(entry) else None)
    else:
        runs = auto[0].runs[auto[1]] if auto else "nothing: no backend can run"
        found.append(Check("inference", None, f"--backend auto runs {runs} here"))

    found.append(Check("model", is_cached(entry),
                       f"{entry.id} at {cached_path(entry)}" if is_cached(entry) else
                       f"{entry.id} not fetched yet: `rtmatte models fetch` (or on first run)"))
    return found


def check_cpu_engine(model: Path | None) -> list[Check]:
    """Which CPU engine ``--backend auto`` runs, and the measurement behind it: for a file run
    (every core) from the cache or measured now; for a live run (a core left free), from the
    cache when a live run has measured it. Without the model nothing can be measured yet."""
    from rtmatte.matting.backends import REGISTRY, Request, cpu_contenders
    from rtmatte.matting.backends.calibrate import ALPHA_TOLERANCE, cpu_calibration
    from rtmatte.matting.open import live_cpu_threads

    contenders = cpu_contenders()
    if len(contenders) == 1:
        return [Check("inference", None, f"--backend auto runs {contenders[0].runs['cpu']} here")]
    names = " and ".join(entry.library for entry in contenders)
    if model is None:
        return [Check("inference", None, f"--backend auto measures {names} on its first CPU run "
                                         "and keeps the fastest whose mattes match ONNX "
                                         "Runtime float32")]
    checks = []
    runs = [("file", None, True)]
    if live_cpu_threads() != (os.cpu_count() or 1):
        runs.append(("live", live_cpu_threads(), False))
    for path, threads, measure in runs:
        calibration = cpu_calibration(Request(model, "cpu", cpu_threads=threads), contenders,
                                      measure=measure)
        if calibration is None:
            checks.append(Check("inference", None, f"--backend auto, {path} runs: measured on "
                                                   "the first one"))
            continue
        chosen = REGISTRY[calibration.chosen]
        engine = calibration.result(calibration.chosen).engine
        checks.append(Check("inference", None,
                            f"--backend auto, {path} runs: {chosen.runs['cpu']} ({engine}), the "
                            f"fastest whose mattes are within {ALPHA_TOLERANCE:g} of ONNX Runtime "
                            f"float32: {calibration.reason()}"))
    return checks


def check_gpu() -> list[Check]:
    from rtmatte.matting.backends import REGISTRY, fastest_present, gpu
    from rtmatte.matting.backends.onnx import missing_tensorrt_message

    gpus = gpu.described()
    named = "; ".join(gpus)
    if gpus and REGISTRY["onnx"].present("cuda"):
        checks = [Check("gpu", True, f"{named}; ONNX Runtime can use it")]
        # the backend's own check: the provider is listed, TensorRT itself is missing
        if REGISTRY["tensorrt"].unavailable("cuda") == missing_tensorrt_message():
            checks.append(Check("gpu", None, "TensorRT is not installed: `pip install tensorrt` "
                                             "for --backend tensorrt, the fastest"))
        return checks
    auto = fastest_present()
    if gpus and auto and auto[1] == "cuda":  # a backend other than ONNX Runtime's can
        backend = auto[0]
        return [Check("gpu", True, f"{named}; {backend.library} can use it (--backend "
                                   f"{backend.name}); for ONNX Runtime and TensorRT on it: "
                                   "`pip install onnxruntime-gpu`")]
    if gpus:
        return [Check("gpu", False, f"{named}, but this onnxruntime is CPU-only: `pip install "
                                    "onnxruntime-gpu` for CUDA")]
    return [Check("gpu", None, "no NVIDIA GPU found; the CPU path adapts its working size "
                               "to keep live video on time")]


def _v4l_devices() -> list[tuple[str, str]]:
    """(device, label) of each capture node; a camera's extra metadata nodes are left out."""
    devices = []
    for name_file in sorted(_V4L.glob("video*/name"), key=lambda p: int(p.parent.name[5:])):
        node = name_file.parent
        try:
            label = name_file.read_text().strip()
            index = (node / "index").read_text().strip() if (node / "index").exists() else "0"
        except OSError:
            continue
        if index == "0":
            devices.append((f"/dev/{node.name}", label))
    return devices


def _is_loopback(label: str) -> bool:
    from rtmatte.sinks.vcam import is_loopback

    return is_loopback(label)


def check_cameras(probe: bool) -> list[Check]:
    if sys.platform.startswith("linux") and not probe:
        cameras = [(dev, label) for dev, label in _v4l_devices() if not _is_loopback(label)]
        if not cameras:
            return [Check("camera", False, "no camera device under /dev/video*")]
        return [Check("camera", True, f"{dev} ({label})") for dev, label in cameras]
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # absent cameras are normal
    found = []
    for index in range(_PROBE_INDICES):
        capture = cv2.VideoCapture(index)
        try:
            if capture.isOpened():
                width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
                height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
                found.append(Check("camera", True, f"camera:{index} ({width}x{height})"))
        finally:
            capture.release()
    last = _PROBE_INDICES - 1
    return found or [Check("camera", False, f"no camera answered at indices 0-{last}")]


def check_virtual_camera() -> list[Check]:
    import pyvirtualcam

    from rtmatte.matting.backends.calibrate import package_version
    from rtmatte.sinks.vcam import PIPEWIRE, choose_backend, setup_hint

    version = package_version("pyvirtualcam")

    backends = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
    found = [Check("virtual camera", None, f"pyvirtualcam {version}, backends: {backends}")]
    if not sys.platform.startswith("linux"):
        return [*found, Check("virtual camera", None, f"if --vcam fails: {setup_hint()}")]
    loops = [(dev, label) for dev, label in _v4l_devices() if _is_loopback(label)]
    found += [Check("virtual camera", True, f"{dev} ({label}): --vcam-device {dev}")
              for dev, label in loops]
    backend, reason = choose_backend(None, None, loops)
    if not loops:  # said even beside PipeWire: apps that read V4L2 only cannot see its camera
        found.append(Check("virtual camera", False, f"no v4l2loopback device; {setup_hint()}"))
    if backend == PIPEWIRE:
        found.append(Check("virtual camera", True, "PipeWire camera: apps that read PipeWire "
                                                   "cameras (OBS 30+, browsers through the "
                                                   "camera portal) can pick 'rtmatte'; apps "
                                                   "that read V4L2 only need v4l2loopback"))
    found.append(Check("virtual camera", None, f"--vcam uses {backend}: {reason}"))
    return found


def check_preview() -> list[Check]:
    from rtmatte.sinks.preview import gui_problem

    problem = gui_problem()
    return [Check("preview", problem is None, problem or "--preview can open a window")]


def run_checks(probe_cameras: bool = False) -> list[Check]:
    checks = [Check("rtmatte", None, f"rtmatte {__version__}, Python {platform.python_version()}"
                                     f", {platform.system()} {platform.machine()}")]
    for group in (check_backends, check_gpu, lambda: check_cameras(probe_cameras),
                  check_virtual_camera, check_preview):
        checks += group()
    return checks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtmatte doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--probe-cameras", action="store_true",
                        help="open cameras 0-3 with OpenCV to see which answer (Linux lists "
                             "/dev/video* without opening them unless asked)")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    checks = run_checks(args.probe_cameras)
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
        return 0
    marks = {True: "ok ", False: "-- ", None: "   "}
    for check in checks:
        print(f"{marks[check.ok]}{check.area:15} {check.detail}")
    return 0
