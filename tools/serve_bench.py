"""``rtmatte serve`` under load, on loopback: what a program calling the API would see.

Starts ``rtmatte serve`` on a free 127.0.0.1 port and measures, with the model warm:
``POST /api/remove`` latency (p50/p95) for a 640x480 and a 1920x1080 picture beside one cold
``rtmatte picture.jpg`` command (model load included); throughput with several clients at once;
and the server's resident memory after the first requests against after many (it should stay
flat). Every loop is bounded in count and in time.

    python tools/serve_bench.py                       # about 4 minutes on a 2-core CPU
    python tools/serve_bench.py --requests 100 --json serve.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from rtmatte.samples import clip_frame
from rtmatte.server.launch import serving

TOKEN = "serve-bench"
SIZES = {"640x480": (640, 480), "1920x1080": (1920, 1080)}
START_TIMEOUT_S = 120.0


def picture(folder: Path, width: int, height: int) -> Path:
    path = folder / f"portrait_{width}x{height}.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(clip_frame(0, 1, width, height), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


class Caller:
    """Sends pictures to /api/remove, counting every answer and its latency."""

    def __init__(self, base: str, data: bytes) -> None:
        self.url = f"{base}api/remove"
        self.data = data
        self.latencies: list[float] = []
        self.failures = 0

    def call(self, client: httpx.Client) -> None:
        began = time.perf_counter()
        answer = client.post(self.url, headers=headers(), timeout=120,
                             files={"file": ("portrait.jpg", self.data, "image/jpeg")},
                             data={"bg": "transparent"})
        if answer.status_code == 200:
            self.latencies.append(time.perf_counter() - began)
        else:
            self.failures += 1


def percentiles(values: list[float]) -> dict[str, float]:
    data = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(data, 50)), 1),
            "p95_ms": round(float(np.percentile(data, 95)), 1), "n": len(values)}


def latency(base: str, path: Path, count: int, deadline: float) -> dict[str, float]:
    caller = Caller(base, path.read_bytes())
    with httpx.Client() as client:
        for _ in range(2):  # the first requests of a size build its buffers
            caller.call(client)
        caller.latencies.clear()
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            caller.call(client)
    return {**percentiles(caller.latencies), "failures": caller.failures}


def cold_cli(path: Path, folder: Path) -> float:
    """One ``rtmatte picture.jpg --bg transparent`` from process start to exit."""
    command = shutil.which("rtmatte")
    program = [command] if command else [sys.executable, "-m", "rtmatte.cli"]
    began = time.perf_counter()
    subprocess.run([*program, str(path), "--bg", "transparent", "-o",
                    str(folder / "cli.png"), "--overwrite", "--quiet"], check=True)
    return round(time.perf_counter() - began, 2)


def throughput(base: str, path: Path, clients: int, total: int,
               deadline: float) -> dict[str, float]:
    """``clients`` threads, each with its own connection, sharing ``total`` requests."""
    caller = Caller(base, path.read_bytes())
    remaining = iter(range(total))
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                with lock:
                    if next(remaining, None) is None:
                        return
                caller.call(client)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    return {"clients": clients, "requests_per_s": round(len(caller.latencies) / seconds, 2),
            **percentiles(caller.latencies), "failures": caller.failures}


def memory(base: str, pid: int, path: Path, total: int, deadline: float) -> dict[str, float]:
    """RSS after the first 10 requests and after ``total`` (bounded by ``deadline``)."""
    caller = Caller(base, path.read_bytes())
    figures = {"rss_warm_mib": round(rss_mib(pid), 1)}
    with httpx.Client() as client:
        for done in range(1, total + 1):
            if time.monotonic() > deadline:
                break
            caller.call(client)
            if done == 10:
                figures["rss_after_10_mib"] = round(rss_mib(pid), 1)
    figures[f"rss_after_{len(caller.latencies) + caller.failures}_mib"] = round(rss_mib(pid), 1)
    figures["failures"] = caller.failures
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-requests", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--throughput-requests", type=int, default=80)
    parser.add_argument("--requests", type=int, default=500,
                        help="requests for the memory figure (default 500)")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="stop every loop after this long in all")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as name:
        folder = Path(name)
        pictures = {label: picture(folder, *size) for label, size in SIZES.items()}
        report["cold_cli_s"] = {label: cold_cli(path, folder)
                                for label, path in pictures.items()}
        with serving(folder / "server.log", token=TOKEN, timeout_s=START_TIMEOUT_S) as served:
            base = served.address
            report["engine"] = httpx.get(f"{base}api/info", headers=headers()).json()["engine"]
            # memory first, on a fresh server: its first requests against its many
            report["memory_640x480"] = memory(base, served.process.pid, pictures["640x480"],
                                              args.requests, deadline)
            report["latency"] = {label: latency(base, path, args.latency_requests, deadline)
                                 for label, path in pictures.items()}
            report["throughput_640x480"] = throughput(base, pictures["640x480"], args.clients,
                                                      args.throughput_requests, deadline)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
