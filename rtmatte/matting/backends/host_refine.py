"""The last step of RVM's deep guided filter, done with OpenCV on interleaved (H, W, C) frames.

The network leaves, at its working size, a gain and an offset per pixel for each of four outputs
(foreground residual R, G, B and alpha); upsampled to the frame, they map the frame's colour (for
alpha, its grey level) to the output. Done here rather than in the graph (see
:mod:`rtmatte.matting.backends.coarse_graph`), every full-size array is contiguous and
interleaved, which OpenCV's vectorised resize and multiply-accumulate run through in one pass
each, and the foreground comes out interleaved, as the compositor wants it, without a
planar-to-interleaved copy.
"""

from __future__ import annotations

import cv2
import numpy as np

_GREY = np.full((1, 3), 1.0 / 3.0, dtype=np.float32)


def apply_maps(frame: np.ndarray, gain: np.ndarray, offset: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Alpha (H, W) and foreground (H, W, 3), float32 in [0, 1], from ``frame`` (float32
    (H, W, 3) in [0, 1], the same the graph was given) and the planar (4, h, w) maps. The
    foreground is the residual plus the frame, so with ``frame * gain + offset + frame =
    frame * (gain + 1) + offset`` one multiply-accumulate gives it."""
    size = (frame.shape[1], frame.shape[0])
    colour_gain = cv2.resize(cv2.merge([plane + np.float32(1.0) for plane in gain[:3]]), size,
                             interpolation=cv2.INTER_LINEAR)
    fgr = cv2.resize(cv2.merge(list(offset[:3])), size, interpolation=cv2.INTER_LINEAR)
    cv2.accumulateProduct(colour_gain, frame, fgr)
    np.clip(fgr, 0.0, 1.0, out=fgr)
    alpha = cv2.resize(offset[3], size, interpolation=cv2.INTER_LINEAR)
    cv2.accumulateProduct(cv2.resize(gain[3], size, interpolation=cv2.INTER_LINEAR),
                          cv2.transform(frame, _GREY), alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha, fgr
