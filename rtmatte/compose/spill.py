"""``--despill``: take the old background's colour out of the subject's edge.

At a soft edge the model's foreground colour is the least sure: hair and shoulders keep some of
the old background's colour, and on a new background it shows as a fringe of the old scene.
Decontamination (on by default) blends such pixels towards the nearby subject colour by their
transparency, whatever colour they hold. Despill is more exact: it estimates the old background
behind each edge pixel (the frame's own background pixels, averaged nearby) and removes only
the part of the pixel's colour that leans from the subject's colour towards that background,

    F' = F - t (B_old - G),  t = clip(((F - G) . (B_old - G)) / |B_old - G|^2, 0, 1)

with G the nearby subject colour, and only where B_old is clearly another colour than G (a
green wall behind a face; not an orange cat behind an orange suit). A strand whose own colour
differs from the subject's in any other direction (a blonde strand on a dark head) keeps it.
Where the subject is composited, the removed share shows the new background instead, through
the edge's alpha.
"""

from __future__ import annotations

import numpy as np

from rtmatte.compose.filters import quarter, weighted_blur

#: pixels of alpha within (SOFT_LOW, SOFT_HIGH) are the edge that is despilled
SOFT_LOW, SOFT_HIGH = 0.01, 0.99
#: colour distance (0-255 RGB) at which the old background starts to count as apart from the
#: subject; at twice this it counts fully
_APART = 40.0


def despill(frame_rgb: np.ndarray, foreground: np.ndarray, alpha: np.ndarray,
            sigma: float = 2.0) -> np.ndarray:
    """``foreground`` (uint8 RGB) with the old background's lean taken out of its soft edge.

    ``frame_rgb`` is the camera picture the old background is read from. Averages are taken at
    quarter size; only the soft pixels are touched at full size.
    """
    soft = (alpha > SOFT_LOW) & (alpha < SOFT_HIGH)
    if not soft.any():
        return foreground
    height, width = alpha.shape
    small_alpha = quarter(alpha)
    subject_weight = small_alpha ** 4  # solid pixels dominate the subject's colour
    scene_weight = (1.0 - small_alpha) ** 4  # and clear ones the old background's
    subject, _ = weighted_blur(quarter(foreground).astype(np.float32), subject_weight, sigma)
    scene, support = weighted_blur(quarter(frame_rgb).astype(np.float32), scene_weight,
                                   2 * sigma)
    lean = scene - subject
    lean[support < 1e-3] = 0.0  # deep inside a subject: no background nearby to lean to
    rows, cols = np.nonzero(soft)
    small_rows = np.minimum(rows * subject.shape[0] // height, subject.shape[0] - 1)
    small_cols = np.minimum(cols * subject.shape[1] // width, subject.shape[1] - 1)
    g = subject[small_rows, small_cols]
    u = lean[small_rows, small_cols]
    f = foreground[rows, cols].astype(np.float32)
    length = np.maximum((u * u).sum(axis=1), 1.0)
    t = np.clip(((f - g) * u).sum(axis=1) / length, 0.0, 1.0)
    # only where the old background's colour stands clearly apart from the subject's: near
    # it, a lean towards it is as likely the subject's own shading
    t *= np.clip((np.sqrt(length) - _APART) / _APART, 0.0, 1.0)
    out = foreground.copy()
    out[rows, cols] = np.clip(f - t[:, None] * u + 0.5, 0, 255).astype(np.uint8)
    return out
