"""What ``tools/eval.py`` runs: the variants its flags name, and the whole evaluation."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmatte import api
from rtmatte.evaluation.harness import EvalResult, Variant, evaluate_clips, evaluate_images
from rtmatte.evaluation.material import CI_CLIPS, CLIPS, PersonLayer, person_layer
from rtmatte.evaluation.report import table
from rtmatte.evaluation.shared_data import image_pairs
from rtmatte.matting.models.fetch import models_home
from rtmatte.post import PostSettings
from rtmatte.settings import Settings, load_settings

#: every step off: the starting point of the one-step-at-a-time variants
_BARE = PostSettings(temporal=False, refine=False, erode=0, feather=0.0, hard=False)


def documented_variants() -> list[Variant]:
    """The variants docs/quality.md reports: the model alone, each step alone, the presets."""
    only = {
        "temporal": {"temporal": True},
        "refine": {"refine": True},
        "erode-1": {"erode": 1},
        "hard": {"hard": True},
    }
    variants = [Variant("none", PostSettings(enabled=False))]
    variants += [Variant(name, dataclasses.replace(_BARE, **change))
                 for name, change in only.items()]
    variants.append(Variant("default", PostSettings()))
    variants += [Variant(name, load_settings(name).post) for name in ("fast-cpu", "quality")]
    return variants


def build_variants(preset: str | None, config: Path | None, overrides: dict[str, Any],
                   compare: bool) -> list[Variant]:
    """``--compare``: the documented set (plus the flags' own, when they ask for something
    else); otherwise just the settings the preset, config and flags give."""
    settings = load_settings(preset, config, {"post": overrides} if overrides else None)
    name = "none" if not settings.post.enabled else ("flags" if overrides else "default")
    chosen = Variant(name, settings.post.validate())
    if not compare:
        return [chosen]
    variants = documented_variants()
    if all(v.post != chosen.post for v in variants):
        variants.append(chosen)
    return variants


def clip_names(text: str) -> list[str]:
    if text == "all":
        return list(CLIPS)
    if text == "ci":
        return list(CI_CLIPS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLIPS]
    if unknown:
        raise SystemExit(f"unknown clip(s) {', '.join(unknown)}; clips: {', '.join(CLIPS)}")
    return names


def eval_cache() -> Path:
    return models_home().parent / "eval"


def load_person_layer() -> PersonLayer:
    """The cached person layer, derived with the model at full resolution when missing."""
    return person_layer(eval_cache(),
                        lambda: api.open_matter(Settings(downsample_ratio=1.0)))


@dataclass
class Report:
    result: EvalResult
    markdown: str


def run_evaluation(args: argparse.Namespace, variants: list[Variant],
                   notify: Callable[[str], None] | None = None) -> Report:
    settings = load_settings(args.preset, args.config)
    matter = api.open_matter(settings)
    layer = load_person_layer()
    result = evaluate_clips(matter, layer, variants, clip_names(args.clips), args.frames,
                            args.size, save_frames=args.save_frames, progress=notify)
    if not args.no_shared:
        result.images = evaluate_images(matter, variants, image_pairs())
    rows = []
    for variant in variants:
        rows += [(variant.name, clip, s) for clip, s in result.scores[variant.name].items()]
        rows.append((variant.name, "**all**", result.overall(variant.name)))
    text = [f"clips at {args.size[0]}x{args.size[1]}, {args.frames} frames; MAD, MSE ×1e3, "
            "Grad, Conn ×1e-3, dtSSD ×1e2, flicker ×1e3", "", table(rows), "",
            "post ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in result.post_ms.items())]
    if result.images:
        image_rows = []
        for name, images in result.images.items():
            image_rows += [(name, image, s) for image, s in images.items()]
        text += ["", "shared eval-data (single images, full resolution):", "",
                 table(image_rows)]
    return Report(result=result, markdown="\n".join(text))
