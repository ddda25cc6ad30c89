"""Where the data files (model catalogue, presets, samples) live.

In a wheel they are copied into ``rtmatte/_data``; in a source checkout (``pip install -e .``) they
are read from the repository's top-level folders, so there is one copy to edit.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder holding the named data set ("models", "configs")."""
    bundled = _PACKAGE_DIR / "_data" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE_DIR.parent / name
