"""rtmatte runs locally: opening the OpenVINO engine sends nothing and forks nothing.

OpenVINO's telemetry (the openvino-telemetry package installed with it) sends a usage event when
it is imported, through a child made by fork() of the whole process from a thread pool, while
the run's own threads decode, run the model and encode. Such children were seen to hang for ever
in Python's fork clean-up, and the run then never exited (it waits for them), and a fork beside
running native threads can abort in C++ teardown: the SIGTERM test that ended with "terminate
called without an active exception". Checked in a fresh interpreter, as a user's run starts.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

_CHECK = """
import sys, threading
from rtmatte.matting.backends.openvino import unavailable
assert unavailable("cpu") is None, "OpenVINO cannot run here"
import openvino.tools.ovc.telemetry_utils as telemetry
print(telemetry.tm.__name__)
print(sorted(t.name for t in threading.enumerate()))
print("multiprocessing" in sys.modules)
"""


def test_opening_openvino_sends_nothing_and_forks_nothing() -> None:
    pytest.importorskip("openvino")
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    module, threads, forking = done.stdout.splitlines()
    assert module == "openvino.tools.ovc.telemetry_stub"  # OpenVINO's own no-op
    assert threads == "['MainThread']"  # no sender pool
    assert forking == "False"  # nothing that could fork was even loaded
