"""A ``--ray local`` driver killed with SIGKILL takes its local Ray cluster with it.

Runs a real driver in a child process (``rtmatte ... --ray local``), waits until one of its
workers is writing, kills the driver, and then waits (bounded) until no process it started is
left: Ray's head, its agents, its workers and the watchdog itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtmatte.cluster.watchdog import _processes, descendants
from rtmatte.samples import make_clip

#: a generous bound for processes that are told to die (SIGKILL) by the watchdog within one
#: look; before the watchdog, Ray's agents were still alive minutes later
_GONE_WITHIN_S = 30.0


def _alive(noted: dict[int, int]) -> list[str]:
    table = _processes()
    alive = []
    for pid, started in noted.items():
        if pid in table and table[pid][1] == started:
            try:
                alive.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                             .decode(errors="replace"))
            except OSError:
                continue
    return alive


@pytest.mark.ray
def test_a_killed_driver_leaves_no_ray_process(tmp_path):
    pytest.importorskip("ray")
    source = make_clip(tmp_path / "long.mp4", frames=240, size=(320, 240), fps=24)
    out = tmp_path / "out"
    out.mkdir()
    driver = subprocess.Popen(
        [sys.executable, "-c", "import sys; from rtmatte.cli.main import main; "
         "sys.exit(main(sys.argv[1:]))", str(source), "-o", str(out / "o.mp4"),
         "--bg", "#00b140", "--backend", "onnx", "--ray", "local", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    noted: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 300
        # the event: a worker has its staging folder open in the output folder
        while not any(p.name.startswith(".rtmatte-partial") for p in out.iterdir()):
            assert driver.poll() is None, "the driver ended before any worker wrote"
            assert time.monotonic() < deadline, "no worker started writing"
            noted.update(descendants(driver.pid, _processes()))
            time.sleep(0.1)
        noted.update(descendants(driver.pid, _processes()))
        names = _alive(noted)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert any("raylet" in n for n in names) and any("MatteWorker" in n for n in names), names
    assert any("rtmatte.cluster.watchdog" in n for n in names), names
    deadline = time.monotonic() + _GONE_WITHIN_S
    while _alive(noted) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [n[:80] for n in _alive(noted)]
    assert left == [], f"still running {_GONE_WITHIN_S:.0f} s after the driver died"
    assert os.getpid() not in noted
