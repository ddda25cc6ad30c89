"""Edge treatments for compositing: colour decontamination and light wrap, and the blend itself.

Each works on a quarter-size copy for everything that needs a blur, because the compositor runs
on every frame at up to 1080p on a couple of CPU cores, and touches full-size pixels only inside
boxes round the subject's edge: elsewhere alpha is 0 or 1, and there is nothing to blend.
"""

from __future__ import annotations

import cv2
import numpy as np

from rtmatte.compose.filters import SCALE, quarter, weighted_blur

#: a quarter-size cell whose mean alpha is this close to 0 or 1 has every pixel within
#: SCALE² times this of it, and a pixel that close moves by under half a level when decontaminated
#: (by 1 - alpha of the difference) or composited (by alpha of it)
_NEGLIGIBLE = 0.5 / (255 * SCALE * SCALE)
#: soft edges are boxed in bands of this many small rows, and runs of soft columns closer than
#: this are boxed together: more boxes cover fewer pixels, and each costs a few OpenCV calls
_BAND, _GAP = 16, 4


class _Box:
    """Where the work is: a rectangle of the small copy and the full-size rectangle under it."""

    def __init__(self, rows: tuple[int, int], cols: tuple[int, int], small_shape: tuple[int, int],
                 shape: tuple[int, int]) -> None:
        self.small = (slice(*rows), slice(*cols))
        self._small_shape = small_shape
        bottom = shape[0] if rows[1] == small_shape[0] else rows[1] * SCALE
        right = shape[1] if cols[1] == small_shape[1] else cols[1] * SCALE
        self.full = (slice(rows[0] * SCALE, bottom), slice(cols[0] * SCALE, right))

    @classmethod
    def around(cls, mask: np.ndarray, shape: tuple[int, int]) -> _Box | None:
        """The box round all of ``mask`` (small-size), None where it is empty."""
        if not mask.any():
            return None
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return cls((rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1), mask.shape, shape)

    def upsample(self, small: np.ndarray) -> np.ndarray:
        """The box's part of a small-size image, resized to the box's full-size pixels.

        The part is resized with one more small pixel on each side, where there is one, and
        cropped: a linear resize reads that far, so the result is the same as that part of the
        whole image resized, with no seam where boxes meet.
        """
        (top, bottom), (left, right) = ((s.start, s.stop) for s in self.small)
        pad_top, pad_left = min(top, 1), min(left, 1)
        pad_bottom = min(self._small_shape[0] - bottom, 1)
        pad_right = min(self._small_shape[1] - right, 1)
        rows, cols = self.full
        height, width = rows.stop - rows.start, cols.stop - cols.start
        part = small[top - pad_top:bottom + pad_bottom, left - pad_left:right + pad_right]
        size = (width + (pad_left + pad_right) * SCALE, height + (pad_top + pad_bottom) * SCALE)
        resized = cv2.resize(part, size, interpolation=cv2.INTER_LINEAR)
        return resized[pad_top * SCALE:pad_top * SCALE + height,
                       pad_left * SCALE:pad_left * SCALE + width]


class _EdgeBox:
    """One box round part of a soft edge, with its alpha and 1 - alpha."""

    def __init__(self, box: _Box, alpha: np.ndarray) -> None:
        self.box = box
        self.alpha = alpha[box.full]
        self.inverse = 1.0 - self.alpha


class SoftEdge:
    """Where a frame's alpha is neither 0 nor 1: worked out once for the steps that need it.

    Most of a frame is solid subject or clear background, which neither decontamination nor the
    blend changes, so their full-size work is done only inside :attr:`boxes`: boxes round the
    cells that are neither, one or a few per band of rows, so that a person's edge is covered
    and not the solid body between its sides (a seventh of a 960x540 frame with a person in it,
    in 22 boxes, against half for one box round it all). ``clear`` counts the clear cells in as
    well: RGBA output shows their colours, which decontamination changes, while a compositor
    multiplies them by 0.
    """

    def __init__(self, alpha: np.ndarray, clear: bool = False) -> None:
        """``alpha``: float32 in [0, 1], as the model and every matte step leave it."""
        self.alpha = alpha
        self.small_alpha = quarter(alpha)
        cells = self.small_alpha < 1.0 - _NEGLIGIBLE
        if not clear:
            cells &= self.small_alpha > _NEGLIGIBLE
        if alpha.shape[0] % SCALE or alpha.shape[1] % SCALE:
            # the small cells do not line up with blocks of full-size pixels: one box for all
            boxes = [_Box((0, cells.shape[0]), (0, cells.shape[1]), cells.shape, alpha.shape)]
        else:
            boxes = _banded_boxes(cells, alpha.shape)
        self.boxes = [_EdgeBox(box, alpha) for box in boxes]


def _banded_boxes(mask: np.ndarray, shape: tuple[int, int]) -> list[_Box]:
    """Boxes round ``mask`` (small-size): in each band of :data:`_BAND` rows, one round each
    run of columns that hold it, runs less than :data:`_GAP` apart counting as one."""
    boxes = []
    for top in range(0, mask.shape[0], _BAND):
        band = mask[top:top + _BAND]
        rows = np.flatnonzero(band.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(band.any(axis=0))
        breaks = np.flatnonzero(np.diff(cols) > _GAP)
        for first, last in zip(cols[np.r_[0, breaks + 1]], cols[np.r_[breaks, -1]], strict=True):
            boxes.append(_Box((top + rows[0], top + rows[-1] + 1), (first, last + 1),
                              mask.shape, shape))
    return boxes


def decontaminate(foreground: np.ndarray, edge: SoftEdge, sigma: float = 2.0) -> np.ndarray:
    """Pull the old background's tint out of the soft edge's foreground colours.

    A half-transparent edge pixel's colour estimate is the least reliable one: it is where the
    old background leaks in, and it shows as a halo of the old scene on the new one. The colour
    of the nearest solid subject is a safer guess, so each pixel is blended towards an
    alpha-weighted local average of the subject's colours by its transparency: solid pixels keep
    their colour, half-transparent ones move half way. ``foreground`` is uint8 RGB; the result is
    a new uint8 picture, changed only inside ``edge.boxes``.

    The average is taken at 1/4 size and the blend is one OpenCV pass over uint8 pictures:
    about 2x cheaper than the same in float32 at 720p.
    """
    result = foreground.copy()
    if not edge.boxes:
        return result
    weight = edge.small_alpha * edge.small_alpha
    weight *= weight  # alpha^4: solid pixels dominate the average
    guess, _ = weighted_blur(quarter(foreground).astype(np.float32), weight, sigma)
    guess = cv2.convertScaleAbs(guess)
    for part in edge.boxes:
        where = part.box.full
        cv2.blendLinear(foreground[where], part.box.upsample(guess), part.alpha, part.inverse,
                        dst=result[where])
    return result


def composite(foreground: np.ndarray, backdrop: np.ndarray, edge: SoftEdge) -> np.ndarray:
    """``foreground * alpha + backdrop * (1 - alpha)`` for uint8 pictures.

    Outside ``edge.boxes`` every pixel is solid or clear (to within half a level), so it is
    copied from one picture or the other and only the boxes are blended: the blend, one OpenCV
    pass over uint8 pictures (3x faster than float32 NumPy), is still the costly one, as it
    divides by the weights' sum for every value. ``edge`` must not count clear cells in.
    """
    picture = backdrop.copy()
    cv2.copyTo(foreground, cv2.compare(edge.alpha, 0.5, cv2.CMP_GE), picture)
    for part in edge.boxes:
        where = part.box.full
        cv2.blendLinear(foreground[where], backdrop[where], part.alpha, part.inverse,
                        dst=picture[where])
    return picture


def light_wrap(picture: np.ndarray, backdrop: np.ndarray, alpha: np.ndarray,
               strength: float, sigma: float = 2.0) -> None:
    """Let the new background's light spill a little over the subject's edge, in place.

    A real scene lights its subject's rim with its own colours; a cut-out lacks that and looks
    pasted on. Inside the subject, near its edge, the picture is blended towards a blur of the
    new background, weighted by how close to the edge the pixel is. ``picture`` is float32 RGB
    in 0-255, ``backdrop`` uint8 RGB.
    """
    if strength <= 0:
        return
    small_alpha = quarter(alpha)
    near_edge = small_alpha * (1.0 - cv2.GaussianBlur(small_alpha, (0, 0), sigma))
    box = _Box.around(near_edge > 1e-3, alpha.shape)
    if box is None:
        return
    near_edge *= np.float32(strength)
    light = cv2.GaussianBlur(quarter(backdrop).astype(np.float32), (0, 0), sigma)
    light = box.upsample(light)
    weight = box.upsample(near_edge)
    weight *= alpha[box.full]  # the upsampled rim must not spill onto the background itself
    region = picture[box.full]
    light -= region
    light *= weight[..., None]
    region += light
