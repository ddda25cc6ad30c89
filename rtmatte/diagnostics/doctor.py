"""``rtmatte doctor``: what works on this machine, and what to do about what does not.

Every check is read-only and quick: no model is downloaded, no camera light is switched on on
Linux (device nodes are listed, not opened), and a missing piece is reported with the command
that adds it rather than as an error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rtmatte import __version__

_V4L = Path("/sys/class/video4linux")
_AUTO_CHOICES = {
    "tensorrt": "ONNX Runtime with TensorRT (engines built once per frame size, then cached)",
    "onnx-cuda": "ONNX Runtime on CUDA",
    "torch-cuda": "PyTorch on CUDA (float16, CUDA graphs)",
    "onnx-cpu": "ONNX Runtime on the CPU",
}
_PROBE_INDICES = 4


@dataclass
class Check:
    area: str
    ok: bool | None  # None: information, neither good nor bad
    detail: str


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_backends() -> list[Check]:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    found = [Check("inference", True, f"onnxruntime {ort.__version__}: {', '.join(providers)}")]
    if importlib.util.find_spec("torch") is not None:
        found.append(Check("inference", True, f"torch {_version('torch')} installed "
                                              "(--backend torch)"))
    from rtmatte.matting.backends import fastest_present
    from rtmatte.matting.models.catalogue import default_model_id, get_model
    from rtmatte.matting.models.fetch import cached_path, is_cached

    found.append(Check("inference", None,
                       f"--backend auto runs {_AUTO_CHOICES[fastest_present()]} here"))

    entry = get_model(default_model_id())
    found.append(Check("model", is_cached(entry),
                       f"{entry.id} at {cached_path(entry)}" if is_cached(entry) else
                       f"{entry.id} not fetched yet: `rtmatte models fetch` (or on first run)"))
    return found


def check_gpu() -> list[Check]:
    import onnxruntime as ort

    smi = shutil.which("nvidia-smi")
    gpus = ""
    if smi:
        try:
            gpus = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            gpus = ""
    from rtmatte.matting.backends import fastest_present
    from rtmatte.matting.models.trt_cache import tensorrt_found

    providers = ort.get_available_providers()
    named = gpus.replace(chr(10), "; ")
    if gpus and "CUDAExecutionProvider" in providers:
        checks = [Check("gpu", True, f"{named}; ONNX Runtime can use it")]
        if "TensorrtExecutionProvider" in providers and not tensorrt_found():
            checks.append(Check("gpu", None, "TensorRT is not installed: `pip install tensorrt` "
                                             "for --backend tensorrt, the fastest"))
        return checks
    if gpus and fastest_present() == "torch-cuda":
        return [Check("gpu", True, f"{named}; PyTorch can use it (--backend torch); for ONNX "
                                   "Runtime and TensorRT on it: `pip install onnxruntime-gpu`")]
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
    lowered = label.lower()
    return any(word in lowered for word in ("loopback", "rtmatte", "dummy", "obs virtual"))


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
    from rtmatte.io.vcam import setup_hint

    version = _version("pyvirtualcam")
    if version is None:
        return [Check("virtual camera", False, "pyvirtualcam is not installed: "
                                               "`pip install rtmatte[vcam]`")]
    import pyvirtualcam

    backends = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
    found = [Check("virtual camera", None, f"pyvirtualcam {version}, backends: {backends}")]
    if sys.platform.startswith("linux"):
        loops = [(dev, label) for dev, label in _v4l_devices() if _is_loopback(label)]
        if loops:
            found += [Check("virtual camera", True, f"{dev} ({label}): --vcam-device {dev}")
                      for dev, label in loops]
        else:
            found.append(Check("virtual camera", False, f"no v4l2loopback device; {setup_hint()}"))
    else:
        found.append(Check("virtual camera", None, f"if --vcam fails: {setup_hint()}"))
    return found


def check_preview() -> list[Check]:
    from rtmatte.io.preview import gui_problem

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
