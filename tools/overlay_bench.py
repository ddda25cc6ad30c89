"""The OBS overlay's transport, measured in a real browser: frame rate, capture-to-draw latency
and CPU for each way of coding the pictures.

Starts ``rtmatte serve --live --source CLIP --bg transparent`` on a free loopback port (CLIP is
the sample portrait clip made by ``rtmatte.samples``, looped), opens ``/overlay`` in Debian's
headless Chromium (Playwright) once per format, waits for the first picture drawn, then counts
over a window: pictures the page drew per second, the run's own delivered rate (/api/live),
the latency from capture to the page's draw (the page reads it from each frame's capture time on
the shared wall clock), and the CPU seconds per second of the server and of the browser (its
whole process tree), besides a window with no page open (the run alone).

    python tools/overlay_bench.py                       # 640x480 at 30 fps, 10 s windows
    python tools/overlay_bench.py --size 1280x720 --window 20 --json overlay.json
    python tools/overlay_bench.py --formats raw --picture docs/images/obs-overlay.jpg

``--picture`` also saves a screenshot of the page (taken with a transparent background, as OBS
composites it) laid over a checkerboard, for docs/obs.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from rtmatte.argtypes import frame_size
from rtmatte.samples import make_clip
from rtmatte.server.launch import serving

FORMATS = ("raw", "webp")
START_TIMEOUT_S = 180.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of one process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def tree_cpu(pids: set[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in pids}


def used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def run_status(base: str, token: str) -> dict:
    return httpx.get(f"{base}api/live", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).json()


def measure(page, base: str, token: str, server_pid: int, window_s: float) -> dict:
    """One window: the page's draws and latencies, the run's rate, the CPU of both sides (the
    browser: every process of ours but the server, its renderers included)."""
    server_pids = {server_pid} | descendants(server_pid)
    browser_pids = descendants(os.getpid()) - server_pids
    start_stats = page.evaluate("() => ({drawn: rtmatteOverlay.drawn, "
                                "n: rtmatteOverlay.latencies.length})") if page else None
    server_before = tree_cpu(server_pids)
    browser_before = tree_cpu(browser_pids)
    run_before = run_status(base, token)["frames"]
    began = time.monotonic()
    time.sleep(window_s)
    seconds = time.monotonic() - began
    run_after = run_status(base, token)
    figures = {
        "run_fps": round((run_after["frames"] - run_before) / seconds, 1),
        "run_latency_ms": run_after["latency_ms"],  # capture to the run's output, median
        "server_cpu": round(used(server_before, tree_cpu(set(server_before))) / seconds, 2),
        "browser_cpu": round(used(browser_before, tree_cpu(browser_pids)) / seconds, 2),
    }
    if page is not None:
        end = page.evaluate("() => ({drawn: rtmatteOverlay.drawn, "
                            "latencies: rtmatteOverlay.latencies.slice()})")
        drawn = end["drawn"] - start_stats["drawn"]
        latencies = sorted(end["latencies"][-min(drawn, len(end["latencies"])):])
        figures.update({
            "page_fps": round(drawn / seconds, 1),
            "latency_p50_ms": round(statistics.median(latencies), 1),
            "latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        })
    return figures


def save_picture(page, path: Path, square: int = 16) -> None:
    """The page's screenshot with nothing behind it, over a grey checkerboard."""
    import io

    shot = np.asarray(Image.open(io.BytesIO(page.screenshot(omit_background=True))))
    rows, columns = np.indices(shot.shape[:2]) // square
    board = np.where((rows + columns) % 2 == 0, 204, 153).astype(np.float32)[..., None]
    alpha = shot[..., 3:].astype(np.float32) / 255.0
    over = shot[..., :3] * alpha + board * (1.0 - alpha)
    Image.fromarray((over + 0.5).astype(np.uint8)).save(path, quality=88)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=frame_size, default=(640, 480), metavar="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--window", type=float, default=10.0, metavar="S")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--picture", type=Path, metavar="PNG",
                        help="also save the page over a checkerboard (docs/obs.md's picture)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="overlay-bench-"))
    results: dict[str, dict] = {}
    try:
        clip = make_clip(folder / "clip.mp4", frames=10 * args.fps, size=args.size,
                         fps=args.fps, audio=False)
        with serving(folder / "serve.log", "--live", "--source", str(clip), "--bg",
                     "transparent", timeout_s=START_TIMEOUT_S) as served, \
                sync_playwright() as playwright:
            base, token = served.address, served.token
            while run_status(base, token)["frames"] < 5 * args.fps:  # the model warmed up
                time.sleep(0.2)
            chromium = shutil.which("chromium") or shutil.which("chromium-browser")
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            results["no page"] = measure(None, base, token, served.process.pid, args.window)
            print("no page", results["no page"], flush=True)
            for name in args.formats.split(","):
                page = browser.new_page(viewport={"width": args.size[0], "height": args.size[1]})
                page.goto(f"{base}overlay?token={token}&format={name}")
                page.wait_for_function("() => window.rtmatteOverlay && rtmatteOverlay.drawn > 5",
                                       timeout=60_000)
                results[name] = measure(page, base, token, served.process.pid, args.window)
                print(name, results[name], flush=True)
                if args.picture is not None and name == "raw":
                    save_picture(page, args.picture)
                page.close()
            browser.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    results["conditions"] = {"size": list(args.size), "fps": args.fps, "window_s": args.window,
                             "load_average": os.getloadavg(), "cores": os.cpu_count()}
    print(json.dumps(results["conditions"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
