"""Command-line flags for post-processing, kept beside the steps they control."""

from __future__ import annotations

import argparse
from typing import Any


def add_post_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("matte post-processing")
    group.add_argument("--post", choices=["default", "none"],
                       help="'none' switches off every post-processing step (alpha exactly as "
                            "the model gives it)")
    group.add_argument("--smooth", dest="temporal", action=argparse.BooleanOptionalAction,
                       default=None, help="motion-adaptive temporal smoothing (default: on)")
    group.add_argument("--smooth-strength", dest="temporal_strength", type=float, metavar="W",
                       help="weight of the previous frame where nothing moves, 0-0.95")
    group.add_argument("--smooth-motion", dest="temporal_motion", type=float, metavar="LEVEL",
                       help="grey-level change (0-255) at which smoothing fades out")
    group.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                       help="guided-filter edge refinement at full resolution")
    group.add_argument("--refine-radius", type=int, metavar="PX",
                       help="guided filter window radius in pixels")
    group.add_argument("--refine-eps", type=float, metavar="EPS",
                       help="guided filter regularisation (larger: smoother edge)")
    group.add_argument("--erode", type=int, metavar="PX",
                       help="shrink the subject by PX pixels; negative grows it")
    group.add_argument("--feather", type=float, metavar="SIGMA",
                       help="soften the edge with a Gaussian of SIGMA pixels")
    group.add_argument("--hard", action=argparse.BooleanOptionalAction, default=None,
                       help="crisp 0/1 cut by hysteresis thresholding")
    group.add_argument("--hard-low", type=float, metavar="A",
                       help="hard cut: keep pixels above A when connected to sure ones")
    group.add_argument("--hard-high", type=float, metavar="A", help="hard cut: sure above A")
    group.add_argument("--light-wrap", type=float, metavar="S",
                       help="let S (0-1) of the new background's light spill over the edge")
    group.add_argument("--decontaminate", action=argparse.BooleanOptionalAction, default=None,
                       help="replace the old background's colour in the edge (default: on)")


_FLAG_FIELDS = ("temporal", "temporal_strength", "temporal_motion", "refine", "refine_radius",
                "refine_eps", "erode", "feather", "hard", "hard_low", "hard_high", "light_wrap",
                "decontaminate")


def post_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``[post]`` settings the flags ask for (empty when none were given)."""
    overrides: dict[str, Any] = {}
    post = getattr(args, "post", None)
    if post == "none":
        overrides["enabled"] = False
    elif post == "default":
        overrides["enabled"] = True
    for name in _FLAG_FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return overrides
