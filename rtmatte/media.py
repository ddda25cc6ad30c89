"""What kind of media a path holds, judged by extension first and by content when opened."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv",
     ".gif", ".3gp"}
)
#: what rtmatte writes: videos into these containers, pictures in these formats
WRITABLE_VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm")
WRITABLE_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
#: containers that can carry an alpha channel, and the codec rtmatte writes it with
ALPHA_VIDEO_CODECS = {".mov": "prores_ks", ".webm": "libvpx-vp9", ".mkv": "libvpx-vp9"}
ALPHA_IMAGE_EXTENSIONS = frozenset({".png", ".webp", ".tif", ".tiff"})
#: the default largest picture (or video frame) read, in pixels: about 85 bytes a pixel are in
#: memory at once while one is matted, so 100 megapixels need some 8.5 GB
MAX_PICTURE_PIXELS = 100_000_000
#: OpenCV decodes nothing larger (its own OPENCV_IO_MAX_IMAGE_PIXELS default)
OPENCV_MAX_PIXELS = 1 << 30


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def media_in_folder(folder: Path) -> list[Path]:
    """Every video and image directly inside ``folder``, in name order."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and (is_image_path(p) or is_video_path(p))
    )
