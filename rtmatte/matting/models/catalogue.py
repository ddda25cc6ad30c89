"""The model catalogue (``models/catalogue.toml``) read into typed entries."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache

from rtmatte.errors import ModelError
from rtmatte.resources import data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class ModelEntry:
    id: str
    description: str
    file: str
    url: str
    sha256: str
    licence: str
    size: int | None = None
    wheel: str | None = None
    wheel_member: str | None = None
    inputs: str = ""
    outputs: str = ""
    default: bool = False

    @property
    def verifiable(self) -> bool:
        """True when a checksum is recorded, so a download can be trusted."""
        return len(self.sha256) == 64


@lru_cache(maxsize=1)
def load_catalogue() -> tuple[ModelEntry, ...]:
    path = data_dir("models") / "catalogue.toml"
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    return tuple(ModelEntry(**item) for item in raw["model"])


def default_model_id() -> str:
    return next(m.id for m in load_catalogue() if m.default)


def get_model(model_id: str) -> ModelEntry:
    for entry in load_catalogue():
        if entry.id == model_id:
            return entry
    known = ", ".join(m.id for m in load_catalogue())
    raise ModelError(f"unknown model '{model_id}'; known models: {known} (or pass --model PATH)")
