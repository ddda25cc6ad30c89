"""Real portraits with hand-made ground-truth alpha, when a checkout has them beside it.

``../shared/eval-data`` (relative to the repository) is read at run time only: its licence is
non-commercial, so none of it may be copied into the project; only aggregate scores are reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

_SETS = ("comp1k-people",)


def default_root() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "eval-data"


def image_pairs(root: Path | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, uint8 RGB, float32 alpha) for every image that has an alpha of the same name."""
    root = Path(root) if root else default_root()
    for name in _SETS:
        images = root / name / "image"
        if not images.is_dir():
            continue
        for path in sorted(images.glob("*.png")):
            alpha_path = root / name / "alpha" / path.name
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            alpha = cv2.imread(str(alpha_path), cv2.IMREAD_GRAYSCALE)
            if bgr is None or alpha is None or alpha.shape != bgr.shape[:2]:
                continue
            yield (f"{name}/{path.stem}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                   alpha.astype(np.float32) / 255.0)
