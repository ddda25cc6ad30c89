"""One typed settings object, built from a preset, then a --config file, then CLI flags.

Presets and config files are TOML with the same field names as :class:`Settings`; the ``[post]``
table fills :class:`~rtmatte.post.PostSettings`. Unknown keys are errors, so a typo in a config
file is reported instead of silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtmatte.errors import SettingsError
from rtmatte.matting.backends import BACKENDS, DEVICES, PRECISIONS
from rtmatte.matting.models.catalogue import default_model_id
from rtmatte.media import MAX_PICTURE_PIXELS, OPENCV_MAX_PIXELS
from rtmatte.post import PostSettings
from rtmatte.resources import data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_PRESET = "balanced"


#: the longest ``--delay`` (frames): 2 s at 30 fps, past any sound delay a call or stream allows
MAX_DELAY = 60


@dataclass
class LiveSettings:
    """How the live path trades quality for keeping up (the ``[live]`` table)."""

    #: int8-quantized weights, made once and cached beside the model
    int8: bool = False
    #: run the model on every Nth frame, carrying the matte between; None: as the CPU allows
    matte_every: int | None = None
    #: shrink the working size while frames are dropped
    adapt: bool = True
    #: hand each frame on this many frames after capture, and use the wait for a better matte
    delay: int = 0
    #: the model looks at a crop round the person at the same working pixels, not the whole
    #: frame (docs/live-crop.md), and idles while nobody is in the frame
    crop: bool = True

    def validate(self) -> None:
        if self.matte_every is not None and self.matte_every < 1:
            raise SettingsError("--matte-every must be 1 or more")
        if not 0 <= self.delay <= MAX_DELAY:
            raise SettingsError(f"--delay must be a whole number of frames from 0 to {MAX_DELAY}")


@dataclass
class Settings:
    """Everything a job needs to know, with the defaults a user gets with no flags."""

    bg: str = "blur"
    model: str = field(default_factory=default_model_id)
    model_path: Path | None = None
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    downsample_ratio: float | None = None  # None: chosen from the frame size
    #: also matte each frame mirrored and average the two mattes (rtmatte.matting.mirror):
    #: more accurate and steadier, for twice the model's time
    mirror: bool = False
    #: the long side, in pixels, of the frame the model works on when the downsample ratio is
    #: auto (480: RVM's own advice; the quality preset spends more)
    auto_long_side: int = 480
    crf: int = 18
    overwrite: bool = False
    alpha_output: str | None = None
    #: the largest picture or video frame read (width x height), checked before decoding
    max_picture_pixels: int = MAX_PICTURE_PIXELS
    post: PostSettings = field(default_factory=PostSettings)
    live: LiveSettings = field(default_factory=LiveSettings)

    def validate(self) -> Settings:
        if self.backend not in BACKENDS:
            raise SettingsError(f"backend must be one of {', '.join(BACKENDS)}, not "
                                f"'{self.backend}'")
        if self.device not in DEVICES:
            raise SettingsError(f"device must be one of {', '.join(DEVICES)}, not '{self.device}'")
        if self.precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, not "
                                f"'{self.precision}'")
        if self.downsample_ratio is not None and not 0.05 <= self.downsample_ratio <= 1.0:
            raise SettingsError(f"downsample ratio must be between 0.05 and 1, or auto; got "
                                f"{self.downsample_ratio}")
        if not 128 <= self.auto_long_side <= 2048:
            raise SettingsError(f"auto long side must be from 128 to 2048 pixels, got "
                                f"{self.auto_long_side}")
        if not 0 <= self.crf <= 51:
            raise SettingsError(f"quality (crf) must be between 0 and 51, got {self.crf}")
        if not 1 <= self.max_picture_pixels <= OPENCV_MAX_PIXELS:
            raise SettingsError(f"max picture pixels must be from 1 to {OPENCV_MAX_PIXELS} "
                                f"(OpenCV reads no larger), got {self.max_picture_pixels}")
        for table in (self, self.post, self.live):
            _refuse_non_finite(table)
        self.post.validate()
        self.live.validate()
        return self


def _refuse_non_finite(table: Any) -> None:
    """nan and inf pass the range checks the wrong way (every comparison with nan is false; inf
    is "above 0"): refused here for every number setting, however it was given."""
    for item in dataclasses.fields(table):
        value = getattr(table, item.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise SettingsError(f"{item.name.replace('_', ' ')} must be a finite number, "
                                f"not {value}")


def preset_names() -> list[str]:
    return sorted(p.stem for p in data_dir("configs").glob("*.toml"))


def load_settings(preset: str | None = None, config: Path | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults ← preset ← config file ← overrides (CLI flags); later ones win."""
    settings = Settings()
    name = preset or DEFAULT_PRESET
    if name not in preset_names():  # a name from the list, never a path to wander off with
        raise SettingsError(f"unknown preset '{name}'; presets: {', '.join(preset_names())}")
    preset_path = data_dir("configs") / f"{name}.toml"
    apply_mapping(settings, _read_toml(preset_path), str(preset_path))
    if config is not None:
        apply_mapping(settings, _read_toml(Path(config)), str(config))
    if overrides:
        apply_mapping(settings, overrides, "command line")
    return settings.validate()


def apply_mapping(settings: Settings, values: dict[str, Any], origin: str) -> None:
    """Set fields from a (possibly nested) mapping, checking names and types."""
    _apply(settings, values, origin)


def _apply(target: Any, values: dict[str, Any], origin: str) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise SettingsError(f"{origin}: unknown setting '{key}' (known: {known})")
        current = getattr(target, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise SettingsError(f"{origin}: '{key}' must be a table")
            _apply(current, value, origin)
            continue
        setattr(target, name, _coerce(value, current, key, origin))


#: fields whose default is None, and how a given value becomes theirs
_OPTIONAL_FIELDS = {
    "model_path": lambda value, origin: Path(value),
    "downsample_ratio": lambda value, origin: _ratio(value, origin),
    "alpha_output": lambda value, origin: str(value),
    "matte_every": lambda value, origin: _whole(value, "matte_every", origin),
}


def _coerce(value: Any, current: Any, key: str, origin: str) -> Any:
    if value is None:
        return None
    if current is None:
        convert = _OPTIONAL_FIELDS.get(key.replace("-", "_"))
        return convert(value, origin) if convert else value
    kind = type(current)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{origin}: '{key}' must be true or false, not {value!r}")
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{origin}: '{key}' must be a number, not {value!r}")
        if not math.isfinite(value):  # TOML writes nan and inf too
            raise SettingsError(f"{origin}: '{key}' must be a finite number, not {value!r}")
        if kind is int and not float(value).is_integer():
            raise SettingsError(f"{origin}: '{key}' must be a whole number, not {value!r}")
        return kind(value)
    if kind is str and not isinstance(value, str):
        raise SettingsError(f"{origin}: '{key}' must be text, not {value!r}")
    return value


def _whole(value: Any, key: str, origin: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{origin}: '{key}' must be a whole number, not {value!r}")
    return value


def _ratio(value: Any, origin: str) -> float | None:
    if isinstance(value, str) and value.lower() == "auto":
        return None
    if isinstance(value, bool):
        raise SettingsError(f"{origin}: downsample ratio must be a number or 'auto', not "
                            f"{str(value).lower()}")
    try:
        ratio = float(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{origin}: downsample ratio must be a number or 'auto', not "
                            f"{value!r}") from exc
    if not math.isfinite(ratio):
        raise SettingsError(f"{origin}: downsample ratio must be a number or 'auto', not "
                            f"{value!r}")
    return ratio


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise SettingsError(f"config file {path} is a folder; give a .toml file") from exc
    except OSError as exc:
        raise SettingsError(f"config file {path} cannot be read ({exc.strerror or exc})") \
            from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(f"config file {path} is not a text file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
