"""The one probe of this machine's NVIDIA GPUs, for the backends, the engine cache, ``doctor`` and
the model bench.

nvidia-smi comes with the driver, so it answers without CUDA libraries or PyTorch; a CUDA build of
PyTorch answers where nvidia-smi is not on PATH (some containers). Nothing here raises: no driver,
an old one or a hung GPU is "no GPU found".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

_SMI_TIMEOUT_S = 10


def nvidia_smi(*fields: str) -> list[tuple[str, ...]]:
    """Each GPU's ``fields`` (nvidia-smi's ``--query-gpu`` names), in nvidia-smi's order: the
    first is the one ONNX Runtime and PyTorch use unless told otherwise. [] without nvidia-smi."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        result = subprocess.run(
            [smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=_SMI_TIMEOUT_S, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    # split from the right: a GPU's name may hold a comma, the other fields do not
    return [tuple(field.strip() for field in line.rsplit(",", len(fields) - 1))
            for line in result.stdout.splitlines() if line.strip()]


def described() -> list[str]:
    """``name, driver version`` of each GPU, for people reading a report."""
    return [", ".join(gpu) for gpu in nvidia_smi("name", "driver_version")]


def torch_cuda_available() -> bool:
    """Whether an installed PyTorch can run on a CUDA GPU; False without PyTorch, and without
    importing it where no NVIDIA driver is reachable (importing PyTorch costs 1-2 s of CPU, paid
    by every ``--backend auto`` run on a CPU-only machine that has the torch extra)."""
    if not nvidia_driver_reachable():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


#: what a usable NVIDIA driver puts on Linux: its control node and /proc folder, or WSL 2's
#: GPU paravirtualisation device (CUDA there has no /dev/nvidia*)
_LINUX_DRIVER_PATHS = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/dxg")


def nvidia_driver_reachable() -> bool:
    """False only where CUDA surely cannot run: Linux with none of the driver's paths (a container
    given a GPU has them too). Elsewhere it cannot tell without CUDA, and says True."""
    return sys.platform != "linux" or any(Path(p).exists() for p in _LINUX_DRIVER_PATHS)
