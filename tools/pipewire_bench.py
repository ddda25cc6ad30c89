"""How fast a frame gets from rtmatte's PipeWire camera to a consumer, against the other way
considered (a ``gst-launch-1.0 fdsrc ! rawvideoparse ! pipewiresink`` child fed on a pipe).

Needs a running PipeWire with a session manager (WirePlumber) and ``gst-launch-1.0`` with the
pipewire plugin. Each frame carries its number in its first bytes; the consumer
(``pipewiresrc ! fdsink``, read here) gives its arrival time, so the latency is measured on one
clock. Both ways share the consumer and its pipe, so their difference is the producer's.

    python tools/pipewire_bench.py --size 1280x720 --fps 30 --seconds 10
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time

import numpy as np

from rtmatte.sinks.pipewire import NODE_NAME, PipeWireStream


def _consumer(name: str, width: int, height: int, fps: int) -> tuple[subprocess.Popen, dict]:
    caps = f"video/x-raw,format=I420,width={width},height={height},framerate={fps}/1"
    process = subprocess.Popen(["gst-launch-1.0", "-q", "pipewiresrc", f"target-object={name}",
                                "!", caps, "!", "fdsink", "fd=1", "sync=false"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrived: dict[int, float] = {}
    size = width * height * 3 // 2

    def read() -> None:
        while len(data := process.stdout.read(size)) == size:
            arrived.setdefault(int.from_bytes(data[:8], "little"), time.perf_counter())

    threading.Thread(target=read, daemon=True).start()
    return process, arrived


def _frame(number: int, size: int) -> np.ndarray:
    frame = np.full(size, number % 200 + 16, np.uint8)
    frame[:8] = np.frombuffer(number.to_bytes(8, "little"), np.uint8)
    return frame


def run(way: str, width: int, height: int, fps: int, seconds: float) -> dict[str, float]:
    size = width * height * 3 // 2
    name = NODE_NAME if way == "ctypes" else "rtmatte-gst"
    child = None
    if way == "ctypes":
        stream = PipeWireStream(width, height, fps, "I420")
        send = stream.send
    else:
        child = subprocess.Popen(
            ["gst-launch-1.0", "-q", "fdsrc", "fd=0", f"blocksize={size}", "!", "rawvideoparse",
             f"width={width}", f"height={height}", "format=i420", f"framerate={fps}/1", "!",
             "videoconvert", "!",  # passthrough; without it pipewiresink 0.3.65 crashed
             "pipewiresink", "mode=provide", "sync=false",
             f"stream-properties=props,media.class=Video/Source,node.name={name}"],
            stdin=subprocess.PIPE)

        def send(frame: np.ndarray) -> None:
            child.stdin.write(frame.data)
            child.stdin.flush()
    time.sleep(1.0)  # the node registered before the consumer looks for it
    consumer, arrived = _consumer(name, width, height, fps)
    sent: dict[int, float] = {}
    costs = []
    number, tick = 0, time.perf_counter()
    end = tick + seconds
    while tick < end:
        frame = _frame(number, size)
        began = time.perf_counter()
        send(frame)
        costs.append(time.perf_counter() - began)
        sent[number] = began
        number += 1
        tick += 1.0 / fps
        time.sleep(max(0.0, tick - time.perf_counter()))
    time.sleep(0.5)
    consumer.terminate()
    child_cpu = 0.0
    if child is not None:
        with open(f"/proc/{child.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        child_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        child.stdin.close()
        child.terminate()
        child.wait()
    else:
        stream.close()
    latency = sorted((arrived[n] - sent[n]) * 1000 for n in arrived if n in sent)
    got = len(latency)
    return {"frames sent": number, "frames received": got,
            "latency p50 ms": latency[got // 2] if got else float("nan"),
            "latency p95 ms": latency[int(got * 0.95)] if got else float("nan"),
            "send p50 us": sorted(costs)[len(costs) // 2] * 1e6,
            "child CPU ms/frame": child_cpu * 1000 / max(number, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--ways", default="ctypes,gst-launch")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    print(f"{args.size} at {args.fps} fps, load average {os.getloadavg()[0]:.1f}")
    for way in args.ways.split(","):
        figures = run(way, width, height, args.fps, args.seconds)
        print(f"{way:11} " + ", ".join(f"{key} {value:.3g}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
