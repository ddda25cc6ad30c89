"""Turning evaluation results into what people read: a table, pictures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLUMNS = (("mad", "MAD"), ("mse", "MSE"), ("grad", "Grad"), ("conn", "Conn"),
           ("dtssd", "dtSSD"), ("flicker", "flicker"))


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    """A Markdown table of (variant, clip, scores) rows."""
    head = "| variant | clip | " + " | ".join(label for _, label in COLUMNS) + " |"
    rule = "|---|---|" + "---:|" * len(COLUMNS)
    lines = [head, rule]
    for variant, clip, scores in rows:
        cells = " | ".join(_cell(scores.get(key)) for key, _ in COLUMNS)
        lines.append(f"| {variant} | {clip} | {cells} |")
    return "\n".join(lines)


def side_by_side(rgb: np.ndarray, alpha: np.ndarray, composite: np.ndarray) -> np.ndarray:
    """input | alpha | composite in one uint8 RGB picture."""
    grey = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.hstack([rgb, np.repeat(grey[..., None], 3, axis=2), composite[..., :3]])


def write_png(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
