"""The size a picture file declares in its header, read without decoding a single pixel.

A decoder allocates the picture its header declares before it reads any pixel: a 274-byte PNG
that declares 100000x100000 asks for 30 GB, and a 875 KB PNG of zeros really holds 30000x30000.
So the size is read here, from the header bytes alone, and checked before any decoder runs.

Pillow's lazy open would read these headers too, but rtmatte does not depend on Pillow, and
OpenCV (which decodes the pictures) has no header-only call; PyAV's probing decodes a frame to
learn the size. The formats are the ones rtmatte reads as pictures; for anything else the
size is unknown (None), and the caller refuses the file rather than decode it blind.
"""

from __future__ import annotations

import struct

#: JPEG start-of-frame markers (the ones that carry the frame size): C0-CF but DHT, JPG, DAC
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: JPEG markers that stand alone, with no length after them
_JPEG_BARE = frozenset({0x01, *range(0xD0, 0xD9)})
#: TIFF tags for the first picture's width and height
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257
#: TIFF field types holding a whole number, and how to read one (struct code)
_TIFF_INTS = {3: "H", 4: "I", 16: "Q", 8: "h", 9: "i", 17: "q", 1: "B"}

#: what the formats read here are called, for the message refusing anything else
FORMATS = "PNG, JPEG, WebP, BMP, TIFF or GIF"


def declared_size(data: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) as the picture's header declares them; None when ``data`` is not a
    PNG, JPEG, WebP, BMP, TIFF or GIF, or its header is cut short."""
    view = memoryview(data).cast("B")
    try:
        for reader in (_png, _jpeg, _webp, _bmp, _tiff, _gif):
            size = reader(view)
            if size is not None:
                return size
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _png(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:8]) != b"\x89PNG\r\n\x1a\n" or bytes(data[12:16]) != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _jpeg(data: memoryview) -> tuple[int, int] | None:
    """The size in the first start-of-frame segment, walking the segments by their lengths (an
    EXIF thumbnail's own frame header lies inside its APP1 segment, and is skipped with it)."""
    if bytes(data[:2]) != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        while data[at] == 0xFF:  # fill bytes
            at += 1
        marker = data[at]
        at += 1
        if marker in _JPEG_BARE:
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan, before any frame header
            return None
        (length,) = struct.unpack_from(">H", data, at)
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, at + 3)
            return width, height
        at += length
    return None


def _webp(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:4]) != b"RIFF" or bytes(data[8:12]) != b"WEBP":
        return None
    chunk = bytes(data[12:16])
    if chunk == b"VP8X":  # extended: the canvas, which is what a decoder allocates
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":  # lossless: 14 bits each, minus one
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":  # lossy: after the frame tag and the start code
        if bytes(data[23:26]) != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    return None


def _bmp(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:2]) != b"BM":
        return None
    (header,) = struct.unpack_from("<I", data, 14)
    if header == 12:  # OS/2 core header: 16-bit sizes
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)  # a negative height means top-down rows


def _tiff(data: memoryview) -> tuple[int, int] | None:
    """The first picture's size (the one a decoder reads first), classic TIFF or BigTIFF."""
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    if order is None:
        return None
    (version,) = struct.unpack_from(order + "H", data, 2)
    if version == 42:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        count_code, entry_size, field = "H", 12, 8
    elif version == 43:
        (ifd,) = struct.unpack_from(order + "Q", data, 8)
        count_code, entry_size, field = "Q", 20, 12
    else:
        return None
    (entries,) = struct.unpack_from(order + count_code, data, ifd)
    first = ifd + struct.calcsize(count_code)
    found: dict[int, int] = {}
    for index in range(entries):
        at = first + index * entry_size
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT) and kind in _TIFF_INTS:
            (found[tag],) = struct.unpack_from(order + _TIFF_INTS[kind], data, at + field)
    if len(found) != 2:
        return None
    return abs(found[_TIFF_WIDTH]), abs(found[_TIFF_HEIGHT])


def _gif(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:6]) not in (b"GIF87a", b"GIF89a"):
        return None
    return struct.unpack_from("<HH", data, 6)
