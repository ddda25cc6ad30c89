"""Hash what rtmatte makes of small deterministic clips, to prove a restructuring changed nothing.

Runs the public API on a clip and a picture for every preset in configs/ and every kind of
background (picture, video, colour, blur, transparent, and the post chain off), plus
``api.remove_background`` on the bundled portrait and the live path's pacing with adaptation
off (the only live part that is deterministic: a live run over a real-time source drops frames
by the clock). Each output is decoded and its pixels hashed, so a container's bytes (encoder
tags, timestamps) do not count, only the mattes and pictures.

    python tools/identity_hash.py > /tmp/hash_before.json
    python tools/identity_hash.py --compare /tmp/hash_before.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from rtmatte import api
from rtmatte.resources import data_dir
from rtmatte.samples import clip_frame, make_clip, portrait, sunset_background
from rtmatte.settings import load_settings

FRAMES = 12
SIZE = (192, 144)


def _digest(arrays: list[np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for array in arrays:
        hasher.update(str(array.shape).encode())
        hasher.update(np.ascontiguousarray(array).tobytes())
    return hasher.hexdigest()


def _decode(path: Path) -> list[np.ndarray]:
    if path.suffix.lower() in (".png", ".jpg"):
        return [cv2.imread(str(path), cv2.IMREAD_UNCHANGED)]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fmt = "rgba" if stream.codec_context.pix_fmt and "a" in stream.codec_context.pix_fmt \
            and stream.codec_context.pix_fmt.startswith(("yuva", "rgba", "argb", "bgra")) \
            else "rgb24"
        return [frame.to_ndarray(format=fmt) for frame in container.decode(stream)]


def _mattes(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(folder.glob("*.png"))]


def run(work: Path) -> dict[str, str]:
    # lossless inputs: x264 does not make the same bytes twice here
    clip = make_clip(work / "clip.mkv", frames=FRAMES, size=SIZE, fps=24, codec="ffv1")
    still = work / "still.png"
    cv2.imwrite(str(still), cv2.cvtColor(clip_frame(3, FRAMES, *SIZE), cv2.COLOR_RGB2BGR))
    picture_bg = work / "beach.jpg"
    cv2.imwrite(str(picture_bg), cv2.cvtColor(sunset_background(200, 150), cv2.COLOR_RGB2BGR))
    video_bg = make_clip(work / "bgclip.mkv", frames=8, size=(160, 120), fps=24, audio=False,
                         codec="ffv1")
    backgrounds = {"picture": str(picture_bg), "video": str(video_bg), "colour": "#00b140",
                   "blur": "blur", "transparent": "transparent", "post-none": "blur"}
    presets = sorted(p.stem for p in data_dir("configs").glob("*.toml"))
    hashes: dict[str, str] = {}
    for preset in presets:
        for kind, spec in backgrounds.items():
            overrides = {"post": {"enabled": False}} if kind == "post-none" else None
            for name, source in (("video", clip), ("image", still)):
                key = f"{preset}/{kind}/{name}"
                out = work / key.replace("/", "_")
                out.mkdir()
                settings = load_settings(preset, overrides={
                    **(overrides or {}), "alpha_output": str(out / "alpha" / "%05d.png")})
                suffix = (".mov" if name == "video" else ".png") if kind == "transparent" \
                    else (".mp4" if name == "video" else ".png")
                [result] = api.process(source, out / f"out{suffix}", bg=spec, settings=settings)
                hashes[f"{key}/picture"] = _digest(_decode(Path(result.output)))
                hashes[f"{key}/matte"] = _digest(_mattes(out / "alpha"))
                print(key, file=sys.stderr)
        settings = load_settings(preset)
        hashes[f"{preset}/remove_background"] = _digest([api.remove_background(portrait(),
                                                                               settings=settings)])
        frames = [clip_frame(i, FRAMES, *SIZE) for i in range(FRAMES)]
        for every in (1, 2):
            live_settings = load_settings(preset, overrides={
                "live": {"adapt": False, "matte_every": every}})
            live = api.open_live_matter(live_settings, 1 / 24)
            live.prepare(*SIZE)
            mattes = [live(rgb) for rgb in frames]
            hashes[f"{preset}/live-every{every}"] = _digest(
                [a for m in mattes for a in (m.alpha, m.fgr)])
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="hashes saved before; exit 1 on a change")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        hashes = run(Path(folder))
    if args.compare is None:
        json.dump(hashes, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    before = json.loads(args.compare.read_text())
    # x264 does not make the same bytes twice here (two runs of one commit differ), so its
    # pictures are listed but not compared; their mattes, the lossless outputs (transparent
    # videos, every still) and the live pacing are
    unstable = {k for k in hashes if k.endswith("/video/picture") and "/transparent/" not in k}
    changed = sorted(k for k in (before.keys() | hashes.keys()) - unstable
                     if before.get(k) != hashes.get(k))
    for key in changed:
        print(f"CHANGED {key}: {before.get(key)} -> {hashes.get(key)}")
    print(f"{len(hashes) - len(unstable) - len(changed)} of {len(hashes) - len(unstable)} "
          f"outputs identical ({len(unstable)} H.264 pictures not compared)")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
