"""Ties a ``--ray local`` cluster's processes to the driver that started them.

Ray starts its head processes with a parent-death signal, but not what those start in turn: a
driver killed with SIGKILL left Ray's dashboard and runtime-env agents running (about 170 MB),
and its workers until they noticed. The watchdog is a small process of its own (its own
session, so a Ctrl-C at the terminal reaches only the driver) that notes, twice a second, every
process descended from the driver. The driver holds the write end of a pipe to it: when the
driver ends its run it says so and the watchdog leaves quietly; when the pipe closes without
that word the driver has died, and the watchdog kills every process it noted that still runs
(each checked by its start time, so a recycled process number is never hit).

    python -m rtmatte.cluster.watchdog DRIVER_PID     # started by :func:`start_watchdog`
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys

#: seconds between two looks at the driver's descendants
_LOOK_S = 0.5
_DONE = b"done\n"


def start_watchdog() -> subprocess.Popen[bytes]:
    """The watchdog for this process; call :func:`release_watchdog` when the run ends."""
    return subprocess.Popen([sys.executable, "-m", "rtmatte.cluster.watchdog", str(os.getpid())],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            start_new_session=True)


def release_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    """The run ended in order (Ray shut down): the watchdog leaves without killing anything."""
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.write(_DONE)
        watchdog.stdin.close()
    except OSError:  # it is gone already: nothing to tell
        pass
    watchdog.wait()


def _processes() -> dict[int, tuple[int, int]]:
    """Every process here: pid -> (parent pid, start time in clock ticks since boot)."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:  # ended while we looked
            continue
        table[int(name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """The processes below ``root`` in ``table``: pid -> start time."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid not in found and pid != os.getpid():
            found[pid] = table[pid][1]
            todo.extend(children.get(pid, []))
    return found


def watch(driver: int, said: int) -> None:
    """Note the driver's descendants until ``said`` (the pipe's read end) tells the end."""
    noted: dict[int, int] = {}
    message = b""
    while True:
        noted.update(descendants(driver, _processes()))
        ready, _, _ = select.select([said], [], [], _LOOK_S)
        if not ready:
            continue
        chunk = os.read(said, 64)
        if chunk:
            message += chunk
            continue
        break
    if message.startswith(_DONE):
        return
    table = _processes()
    for pid, started in noted.items():
        if pid in table and table[pid][1] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # ended between the look and the kill
                continue


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]), sys.stdin.fileno())
