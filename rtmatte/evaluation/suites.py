"""The two suites beside the matte tables: ``--suite keep`` (choosing whom to keep, on crowd
clips) and ``--suite edges`` (grow/shrink, despill, the blur background's halo)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rtmatte import api
from rtmatte.compose.backgrounds import BlurBackground, ColourBackground
from rtmatte.compose.compositor import Compositor
from rtmatte.evaluation.crowd import CROWDS
from rtmatte.evaluation.edging import SPILL_BACKGROUND, EdgeVariant, score_edges
from rtmatte.evaluation.keeping import KeepScores, score_crowd
from rtmatte.evaluation.material import CLIPS, EDGE_CLIPS, render_clip
from rtmatte.evaluation.report import write_png
from rtmatte.evaluation.variants import load_person_layer
from rtmatte.post import PostSettings, build_post
from rtmatte.settings import load_settings
from rtmatte.types import Frame

#: single-person clips the edge suite runs on: moving people, and the green wall for spill
EDGE_SUITE_CLIPS = ("coffee-pan", "hubble-fast", "green-wall")


def edge_variants() -> list[EdgeVariant]:
    base = PostSettings()
    change = {
        "default": {},
        "erode 2 (grey)": {"erode": 2},
        "shrink 2": {"shrink": 2.0},
        "erode -2 (grey)": {"erode": -2},
        "grow 1": {"grow": 1.0},
        "grow 2": {"grow": 2.0},
        "no decontaminate": {"decontaminate": False},
        "despill": {"despill": True},
    }
    return [EdgeVariant(name, dataclasses.replace(base, **c)) for name, c in change.items()]


def keep_report(frames: int, size: tuple[int, int], preset: str | None,
                config: Path | None, notify: Callable[[str], None] | None = None,
                ) -> tuple[list[KeepScores], str]:
    settings = load_settings(preset, config)
    matter = api.open_matter(settings)
    layer = load_person_layer()
    rows = []
    for clip in CROWDS:
        rows.append(score_crowd(matter, layer, clip, frames, size, settings.post))
        plain = score_crowd(matter, layer, clip, frames, size, settings.post, keep="all")
        rows[-1].others_all = plain.others
        if notify:
            notify(f"{clip}: done")
    lines = [f"crowd clips at {size[0]}x{size[1]}, {frames} frames; MAD ×1e3, dtSSD ×1e2", "",
             "| clip | --keep | MAD | dtSSD | others (keep all) | others | switches | "
             "wrong frames | keep ms/frame |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.clip} | {r.keep} | {r.mad:.2f} | {r.dtssd:.2f} | "
                     f"{r.others_all:.3f} | {r.others:.4f} | {r.switches} | {r.wrong} | "
                     f"{r.keep_ms:.1f} |")
    return rows, "\n".join(lines)


def edge_report(frames: int, size: tuple[int, int], preset: str | None, config: Path | None,
                ) -> tuple[dict[str, dict[str, float]], str]:
    settings = load_settings(preset, config)
    scores = score_edges(api.open_matter(settings), load_person_layer(), edge_variants(),
                         EDGE_SUITE_CLIPS, frames, size)
    lines = [f"{', '.join(EDGE_SUITE_CLIPS)} at {size[0]}x{size[1]}, {frames} frames; MAD ×1e3, "
             "Grad ×1e-3, spill and halo in 0-255 colour levels", "",
             "| variant | MAD | Grad | spill | halo |", "|---|---:|---:|---:|---:|"]
    for name, s in scores.items():
        lines.append(f"| {name} | {s['mad']:.2f} | {s['grad']:.2f} | {s['spill']:.2f} | "
                     f"{s['halo']:.2f} |")
    return scores, "\n".join(lines)


def save_edge_frames(folder: Path, frames: int, size: tuple[int, int], clip: str,
                     index: int, variants: dict[str, PostSettings]) -> None:
    """One frame of ``clip`` composited with each variant, on the spill colour and on blur."""
    matter = api.open_matter()
    layer = load_person_layer()
    spec = EDGE_CLIPS.get(clip) or CLIPS[clip]
    chains = {name: build_post(post) for name, post in variants.items()}
    for number, frame in enumerate(render_clip(spec, layer, frames, size)):
        raw = matter(frame.rgb)
        mattes = {name: chain(frame.rgb, raw) for name, chain in chains.items()}
        if number != index:
            continue
        shown = Frame(rgb=frame.rgb, index=number)
        for name, post in variants.items():
            pictures = [Compositor(background, post)(shown, mattes[name])
                        for background in (ColourBackground(SPILL_BACKGROUND), BlurBackground())]
            slug = "".join(c if c.isalnum() else "-" for c in name).strip("-")
            write_png(folder / f"{clip}-{number:03d}-{slug}.png", np.hstack(pictures))
        return
