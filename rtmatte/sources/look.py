"""What a video's pictures look like, and the RGB rtmatte turns them into.

rtmatte's pictures are 8-bit RGB composited with SDR backgrounds (photos, colours, other
videos), so HDR (PQ, HLG) and BT.2020 wide-gamut video is converted on decoding to SDR BT.709,
tone-mapped by FFmpeg's swscale: composited as it is, an SDR background would land at the wrong
brightness inside an HDR picture. Every other video keeps its colour space: the RGB values stay
in it, and :class:`~rtmatte.types.Display` tells the writer the primaries, transfer and matrix,
so the copy is encoded and tagged as the source was. The shape of a pixel (anamorphic video)
travels the same way. Interlaced video is deinterlaced (bwdif, one picture per frame, so
the frame count and timestamps stay), since the model mattes whole pictures and a combed edge
would be matted as such. What cannot be kept (HDR, 10 bits, interlacing, a video's own alpha, a
second video stream) is said in one line each.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import chain
from pathlib import Path

import av
import av.filter
import numpy as np

from rtmatte.types import UNSPECIFIED, Display

#: FFmpeg's transfer codes for HDR, and their names
_HDR = {16: "PQ", 18: "HLG"}
#: FFmpeg's code for BT.709, as primaries, transfer and matrix alike; BT.2020's primaries
BT709, _BT2020 = 1, 9
#: matrices swscale converts with (FFmpeg colour space codes): BT.709, FCC, BT.470BG, SMPTE
#: 170M, SMPTE 240M, BT.2020
_MATRICES = frozenset({1, 4, 5, 6, 7, 9, 10})
#: FFmpeg field orders that mean interlaced (top or bottom first, coded either way)
_INTERLACED = frozenset({2, 3, 4, 5})


def is_wide(context: av.video.codeccontext.VideoCodecContext) -> bool:
    """Whether the stream is HDR or BT.2020 wide gamut, converted to SDR BT.709 on decoding."""
    return context.color_trc in _HDR or context.color_primaries == _BT2020


def describe_display(stream: av.video.stream.VideoStream) -> Display:
    """The Display of the RGB pictures decoded from ``stream`` (see :func:`to_rgb`)."""
    context = stream.codec_context
    aspect = stream.sample_aspect_ratio or context.sample_aspect_ratio
    aspect = Fraction(aspect) if aspect and aspect > 0 else Fraction(1)
    if is_wide(context):
        return Display(pixel_aspect=aspect, primaries=BT709, transfer=BT709, matrix=BT709)
    return Display(pixel_aspect=aspect, primaries=_tag(context.color_primaries),
                   transfer=_tag(context.color_trc),
                   matrix=context.colorspace if context.colorspace in _MATRICES
                   else UNSPECIFIED)


def upright(display: Display, turned: bool) -> Display:
    """``display`` for the picture turned a quarter (a pixel's width becomes its height)."""
    if not turned or display.pixel_aspect == 1:
        return display
    return Display(pixel_aspect=1 / display.pixel_aspect, primaries=display.primaries,
                   transfer=display.transfer, matrix=display.matrix)


def is_interlaced(stream: av.video.stream.VideoStream) -> bool:
    return stream.codec_context.field_order in _INTERLACED


def deinterlaced(frames: Iterator[av.VideoFrame],
                 stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """``frames`` through FFmpeg's bwdif, one picture for each frame (only those flagged
    interlaced are changed), with their timestamps in the stream's time base again."""
    graph = av.filter.Graph()
    source = graph.add_buffer(template=stream)
    bwdif = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    source.link_to(bwdif)
    bwdif.link_to(graph.add("buffersink"))
    graph.configure()
    for frame in chain(frames, [None]):  # None: the end, which lets the last frame out
        graph.push(frame)
        while True:
            try:
                picture = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            if picture.pts is not None:
                picture.pts = round(picture.pts * picture.time_base / stream.time_base)
            yield picture


def to_rgb(decoded: av.VideoFrame, wide: bool) -> np.ndarray:
    """uint8 RGB of a decoded frame: in its own colour space, or SDR BT.709 where ``wide``."""
    if wide:
        decoded = decoded.reformat(format="rgb24", dst_color_trc=BT709,
                                   dst_color_primaries=BT709)
    return decoded.to_ndarray(format="rgb24")


def notes_on(path: Path, stream: av.video.stream.VideoStream, others: int) -> list[str]:
    """One line for each way the copy of ``stream`` differs from it; ``others`` is how many
    more video streams the file holds (cover pictures aside)."""
    context = stream.codec_context
    name = Path(path).name
    notes = []
    bits = context.format.components[0].bits if context.format else 8
    if is_wide(context):
        kind = f"HDR ({_HDR[context.color_trc]})" if context.color_trc in _HDR \
            else "wide-gamut BT.2020"
        notes.append(f"{name} is {kind}, {bits}-bit: it is converted to SDR BT.709 (tone-mapped) "
                     "and written 8-bit, tagged BT.709; rtmatte composites in SDR")
    elif bits > 8:
        notes.append(f"{name} is {bits}-bit: it is written 8-bit, its colour tags kept")
    if context.field_order in _INTERLACED:
        notes.append(f"{name} is interlaced: it is deinterlaced (bwdif, one picture a frame) "
                     "and written progressive")
    if (context.format and any(c.is_alpha for c in context.format.components)) or \
            stream.metadata.get("alpha_mode") == "1":
        notes.append(f"{name} has its own alpha channel: it is not read for video, the matte "
                     "alone decides what is hidden")
    if others:
        notes.append(f"{name} holds {others + 1} video streams: only the first is matted and "
                     f"written, the other {others} left out")
    return notes


def _tag(code: int) -> int:
    """A colour code as a writer may tag it: reserved ones (0 and 3) said as unspecified."""
    return UNSPECIFIED if code in (0, 3) else code
