"""Every flag that sets a setting, declared once with the setting it sets.

A flag added here through :func:`setting_flag` lands in :data:`TABLE`, and
:func:`overrides` turns parsed flags into the nested mapping that
:func:`rtmatte.settings.load_settings` applies over the preset and the config file. So a flag,
a preset key and a config key are one setting, and none is forgotten by a subcommand.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtmatte.argtypes import frame_size, number, positive_number
from rtmatte.matting.backends import BACKENDS, DEVICES, PRECISIONS


@dataclass(frozen=True)
class SettingFlag:
    """``dest`` (argparse's name) sets ``setting`` (a dotted path: ``post.refine``)."""

    dest: str
    setting: str


TABLE: list[SettingFlag] = []


def setting_flag(group: Any, *names: str, setting: str, **options: Any) -> None:
    """``group.add_argument`` that also records which setting the flag sets. A flag left out is
    None, so it never overrides what a preset or config file said."""
    action = group.add_argument(*names, default=None, **options)
    if all(entry.dest != action.dest for entry in TABLE):
        TABLE.append(SettingFlag(action.dest, setting))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the given flags ask for, nested as the settings file would hold them."""
    found: dict[str, Any] = {}
    for entry in TABLE:
        value = getattr(args, entry.dest, None)
        if value is None:
            continue
        *tables, name = entry.setting.split(".")
        target = found
        for table in tables:
            target = target.setdefault(table, {})
        target[name] = value
    model = found.pop("model", None)
    if model is not None:  # a file, or a catalogue id
        found["model_path" if model.lower().endswith(".onnx") or Path(model).is_file()
              else "model"] = model
    return found


def _post_switch(text: str) -> bool:
    if text not in ("default", "none"):
        raise argparse.ArgumentTypeError(f"choose default or none, not {text!r}")
    return text == "default"


def add_settings_file_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the settings start from: a preset, then a config file, before any flag."""
    parser.add_argument("--preset", help="settings preset from configs/ (default: balanced)")
    parser.add_argument("--config", type=Path, help="a TOML file of settings")


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """``--debug``: read by cli/main.py before parsing; declared so the parser accepts it."""
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_file_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    add_debug_argument(parser)


def add_model_arguments(parser: argparse.ArgumentParser,
                        said_defaults: Mapping[str, str] | None = None) -> None:
    """``said_defaults``: the default a flag's help states, by dest, for a subcommand that fills
    in its own after parsing (``rtmatte bench`` runs ONNX Runtime on the CPU unless told)."""
    said = {"backend": "auto, the fastest present", "device": "auto",
            "precision": "auto, fp16 on a GPU", **(said_defaults or {})}
    group = parser.add_argument_group("model")
    setting_flag(group, "--model", setting="model",
                 help="catalogue id (see `rtmatte models list`) or an ONNX file")
    setting_flag(group, "--backend", setting="backend", choices=BACKENDS,
                 help=f"inference backend (default: {said['backend']})")
    setting_flag(group, "--device", setting="device", choices=DEVICES,
                 help=f"default: {said['device']}")
    setting_flag(group, "--precision", setting="precision", choices=PRECISIONS,
                 help=f"of the torch and tensorrt backends (default: {said['precision']})")
    setting_flag(group, "--downsample-ratio", setting="downsample_ratio", metavar="auto|R",
                 help="scale at which the network sees the frame (default: auto, long side "
                      "about 480 px)")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    setting_flag(parser, "--bg", setting="bg",
                 help="background: an image, a video (looped), a colour (#00b140, green, …), "
                      "'blur', 'blur:STRENGTH' or 'transparent'")
    setting_flag(parser, "--alpha-output", setting="alpha_output", metavar="PATTERN",
                 help="also write the matte as PNGs, e.g. alpha/%%05d.png")
    setting_flag(parser, "--crf", setting="crf", type=int,
                 help="video quality, 0 (lossless) to 51; default 18")
    setting_flag(parser, "--overwrite", setting="overwrite", action="store_true",
                 help="replace an existing output")
    setting_flag(parser, "--max-picture-pixels", setting="max_picture_pixels", type=int,
                 metavar="N", help="refuse pictures and video frames larger than N pixels, "
                 "before decoding them (default 100000000: 100 megapixels)")


def add_post_switch(parser: Any) -> None:
    """``--post default|none`` alone, for a subcommand without the single steps' flags."""
    setting_flag(parser, "--post", setting="post.enabled", type=_post_switch,
                 metavar="{default,none}",
                 help="'none' switches off every post-processing step (alpha exactly as the "
                      "model gives it)")


def add_post_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("matte post-processing")
    add_post_switch(group)
    on_off = argparse.BooleanOptionalAction
    setting_flag(group, "--smooth", setting="post.temporal", action=on_off,
                 help="motion-adaptive temporal smoothing (default: on)")
    setting_flag(group, "--smooth-strength", setting="post.temporal_strength", type=number,
                 metavar="W", help="weight of the previous frame where nothing moves, 0-0.95")
    setting_flag(group, "--smooth-motion", setting="post.temporal_motion", type=number,
                 metavar="LEVEL", help="grey-level change (0-255) at which smoothing fades out")
    setting_flag(group, "--refine", setting="post.refine", action=on_off,
                 help="guided-filter edge refinement at full resolution")
    setting_flag(group, "--refine-radius", setting="post.refine_radius", type=int, metavar="PX",
                 help="guided filter window radius in pixels")
    setting_flag(group, "--refine-eps", setting="post.refine_eps", type=number, metavar="EPS",
                 help="guided filter regularisation (larger: smoother edge)")
    setting_flag(group, "--erode", setting="post.erode", type=int, metavar="PX",
                 help="shrink the subject by PX pixels; negative grows it")
    setting_flag(group, "--grow", setting="post.grow", type=number, metavar="PX",
                 help="move the edge outwards by PX pixels, keeping it soft")
    setting_flag(group, "--shrink", setting="post.shrink", type=number, metavar="PX",
                 help="move the edge inwards by PX pixels, keeping it soft")
    setting_flag(group, "--keep", setting="post.keep", metavar="all|largest|center|X,Y",
                 help="keep one person, everyone else becomes background: the largest, the one "
                      "nearest the centre, or the one under pixel X,Y of the first frame "
                      "(default: all)")
    setting_flag(group, "--keep-memory", setting="post.keep_memory", type=int, metavar="FRAMES",
                 help="frames the kept person may be out of sight and still be recognised "
                      "(default 150: 5 s at 30 fps)")
    setting_flag(group, "--feather", setting="post.feather", type=number, metavar="SIGMA",
                 help="soften the edge with a Gaussian of SIGMA pixels")
    setting_flag(group, "--hard", setting="post.hard", action=on_off,
                 help="crisp 0/1 cut by hysteresis thresholding")
    setting_flag(group, "--hard-low", setting="post.hard_low", type=number, metavar="A",
                 help="hard cut: keep pixels above A when connected to sure ones")
    setting_flag(group, "--hard-high", setting="post.hard_high", type=number, metavar="A",
                 help="hard cut: sure above A")
    setting_flag(group, "--light-wrap", setting="post.light_wrap", type=number, metavar="S",
                 help="let S (0-1) of the new background's light spill over the edge")
    setting_flag(group, "--decontaminate", setting="post.decontaminate", action=on_off,
                 help="replace the old background's colour in the edge (default: on)")
    setting_flag(group, "--despill", setting="post.despill", action=on_off,
                 help="remove the old background's colour from the edge by its direction "
                      "(in place of --decontaminate)")
    setting_flag(group, "--harmonize", setting="post.harmonize", type=number, metavar="S",
                 help="match the subject's colours to the new background by S (0-1; "
                      "default 0)")


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "live", "input camera, camera:N or /dev/videoN runs live; so does a file with --realtime")
    group.add_argument("--realtime", action="store_true",
                       help="play a file at its own rate through the live path (drop when late)")
    group.add_argument("--vcam", action="store_true",
                       help="send the result to a virtual camera (Zoom, Teams, Meet, OBS)")
    group.add_argument("--vcam-device", metavar="DEV",
                       help="virtual camera device, e.g. /dev/video10 (default: the first free;"
                            " with --vcam-backend pipewire: the camera node's name, rtmatte)")
    group.add_argument("--vcam-backend", metavar="NAME",
                       help="auto (default), pipewire (Linux, no kernel module), v4l2loopback, "
                            "obs or unitycapture; `rtmatte doctor` says which auto picks")
    group.add_argument("--on-demand", action="store_true",
                       help="Linux: run the model only while an app reads the virtual camera")
    group.add_argument("--preview", action="store_true",
                       help="show a window (keys: q quit, b next background, space effect on/off)")
    group.add_argument("--size", type=frame_size, metavar="WxH",
                       help="camera picture size to ask for")
    group.add_argument("--fps", type=positive_number, help="camera frame rate to ask for")
    group.add_argument("--bg-watch", type=Path, metavar="FILE",
                       help="a file holding a --bg value; write a new one to switch backgrounds")
    add_live_quality_arguments(group)


def add_live_quality_arguments(group: Any) -> None:
    """The settings of a live run's picture and pace, shared by a camera run and serve --live."""
    setting_flag(group, "--matte-every", setting="live.matte_every", type=int, metavar="N",
                 help="run the model on every Nth frame, carrying the matte in between "
                      "(default: every frame, every other one when the CPU is too slow)")
    setting_flag(group, "--delay", setting="live.delay", type=int, metavar="N",
                 help="hand each frame on N frames after capture (a fixed latency to match the "
                      "sound to) and use the wait for a steadier, sharper matte (default: 0)")
    setting_flag(group, "--int8", setting="live.int8", action="store_true",
                 help="use int8-quantized weights (made once and cached beside the model)")
    setting_flag(group, "--no-adapt", setting="live.adapt", dest="adapt", action="store_false",
                 help="keep the model's working size fixed even when frames are dropped")
    setting_flag(group, "--no-crop", setting="live.crop", dest="crop", action="store_false",
                 help="give the model the whole frame, not a crop round the person (which "
                      "spends its pixels on the person and idles while nobody is in frame)")
