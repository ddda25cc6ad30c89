"""Model files rtmatte makes on this machine from a verified one (PyTorch weights, int8 weights).

Such a file is cached with a ``<name>.json`` record of the source's and its own sha256 and of the
recipe that made it, and is used only while all three still match: a new source model, an edited
or truncated cache file, or a changed recipe rebuilds it. The file is written under a temporary
name first, so an interrupted build never leaves a half file that a later run would trust.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from rtmatte.matting.models.fetch import sha256_of

Build = Callable[[Path, Path], object]


def record_path(target: Path) -> Path:
    return target.with_name(target.name + ".json")


def build_derived(source: Path, target: Path, recipe: str | int, build: Build) -> Path:
    """Run ``build(source, partial)``, then move the result to ``target`` with its record."""
    source, target = Path(source), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        partial = Path(tmp) / target.name
        build(source, partial)
        record = {"recipe": recipe, "source": source.name, "source_sha256": sha256_of(source),
                  "weights_sha256": sha256_of(partial)}
        os.replace(partial, target)
        written = Path(tmp) / "record.json"
        written.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(written, record_path(target))
    return target


def ensure_derived(source: Path, target: Path, recipe: str | int, build: Build) -> Path:
    """``target`` as cached when its record matches, else freshly built."""
    if is_current(source, target, recipe):
        return Path(target)
    return build_derived(source, target, recipe, build)


def is_current(source: Path, target: Path, recipe: str | int) -> bool:
    try:
        record = json.loads(record_path(Path(target)).read_text())
        return (
            Path(target).is_file()
            and record.get("recipe") == recipe
            and record.get("source_sha256") == sha256_of(Path(source))
            and record.get("weights_sha256") == sha256_of(Path(target))
        )
    except (OSError, ValueError, AttributeError):
        return False
