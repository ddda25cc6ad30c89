"""The second probe's media inputs: pictures refused by their declared size before decoding,
anamorphic and HDR video written as it is meant to be shown, start offsets, cover art, and
what a copy cannot keep (interlacing, a second video stream, a video's own alpha) said in one
line; a named pipe refused instead of waited on."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import everything_under, one_line, run

from rtmatte import api
from rtmatte.errors import PictureTooLarge
from rtmatte.samples import make_clip
from rtmatte.settings import load_settings
from rtmatte.sources.file import VideoSource
from rtmatte.sources.headers import declared_size

GREEN = "#00b140"


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A PNG of a few hundred bytes whose header declares ``width`` x ``height`` (its data is a
    few zero rows: a decoder allocates the whole picture before it finds out)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" * (1 + 3 * min(width, 64)) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
                     + chunk(b"IEND", b""))
    return path


def encode(path: Path, frames: list[np.ndarray], *, rate: int = 25, codec: str = "libx264",
           pix_fmt: str = "yuv420p", start_s: float = 0.0, options: dict | None = None,
           context: dict | None = None, streams: int = 1) -> Path:
    """A real video of ``frames`` (uint8 RGB), its first timestamp at ``start_s``; ``context``
    sets codec-context fields (sample aspect ratio, colour tags) before the encoder opens."""
    with av.open(str(path), "w") as out:
        made = []
        for _ in range(streams):
            stream = out.add_stream(codec, rate=rate)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = pix_fmt
            stream.time_base = Fraction(1, 1000)
            stream.options = options or {}
            for name, value in (context or {}).items():
                setattr(stream.codec_context, name, value)
            made.append(stream)
        for index, rgb in enumerate(frames):
            for stream in made:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = round((start_s + index / rate) * 1000)
                frame.time_base = Fraction(1, 1000)
                for packet in stream.encode(frame):
                    out.mux(packet)
        for stream in made:
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def grey(n: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    return [np.full((height, width, 3), 40 + 8 * (i % 20), np.uint8) for i in range(n)]


def notes_of(source: Path, target: Path, bg: str = GREEN) -> list[str]:
    """What api.process says while it writes ``source`` into ``target``."""
    heard: list[str] = []
    api.process(source, target, bg=bg, notify=heard.append)
    return heard


# --- item 1: a picture's declared size, checked before decoding -------------------------------

@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif", ".gif"])
def test_the_declared_size_is_read_from_the_header_alone(ext: str) -> None:
    picture = np.random.default_rng(1).integers(0, 255, (37, 53, 3), np.uint8)
    ok, data = cv2.imencode(ext, picture)
    assert ok
    assert declared_size(data) == (53, 37)
    assert declared_size(data[:len(data) // 3 if ext != ".tif" else 8]) in (None, (53, 37))


def test_big_endian_tiff_and_progressive_jpeg_headers() -> None:
    # a big-endian TIFF: header, one IFD with width (LONG) and height (SHORT)
    ifd = struct.pack(">H", 2) + struct.pack(">HHII", 256, 4, 1, 70000) + \
        struct.pack(">HHIHH", 257, 3, 1, 40000, 0) + struct.pack(">I", 0)
    assert declared_size(b"MM\x00\x2a" + struct.pack(">I", 8) + ifd) == (70000, 40000)
    _, data = cv2.imencode(".jpg", np.zeros((21, 13, 3), np.uint8),
                           [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert declared_size(data) == (13, 21)
    assert declared_size(b"P6\n13 21\n255\n" + bytes(13 * 21 * 3)) is None  # not one we read


def test_a_png_declaring_a_huge_picture_is_refused_in_one_line(capsys, tmp_path) -> None:
    huge = png_declaring(tmp_path / "huge.png", 100_000, 100_000)
    assert huge.stat().st_size < 400
    assert run(huge, "--bg", "transparent", "-o", tmp_path / "out.png") == 2
    line = one_line(capsys)
    assert "100000x100000" in line and "limit of 100 megapixels" in line
    assert "--max-picture-pixels" in line
    assert everything_under(tmp_path) == ["huge.png"]


def test_a_huge_background_picture_is_refused_before_decoding(capsys, tmp_path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48), audio=False)
    bg = png_declaring(tmp_path / "bg.png", 100_000, 100_000)
    assert run(clip, "--bg", bg, "-o", tmp_path / "out.mp4") == 2
    assert "bg.png: the picture is 100000x100000" in one_line(capsys)
    assert not (tmp_path / "out.mp4").exists()


def test_the_limit_is_a_setting_for_real_pictures_and_video_frames(capsys, tmp_path) -> None:
    picture = tmp_path / "photo.jpg"
    cv2.imwrite(str(picture), np.full((300, 400, 3), 128, np.uint8))
    assert run(picture, "--bg", GREEN, "--max-picture-pixels", "100000") == 2
    assert "400x300 (120000 pixels), over the limit of 100000 pixels" in one_line(capsys)
    clip = make_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48), audio=False)
    assert run(clip, "--bg", GREEN, "--max-picture-pixels", "3000") == 2
    assert "clip.mp4: its frames are 64x48" in one_line(capsys)
    assert run(clip, "--bg", picture, "--max-picture-pixels", "100000") == 2
    assert "photo.jpg: the picture is 400x300" in one_line(capsys)
    assert everything_under(tmp_path) == ["clip.mp4", "photo.jpg"]


def test_a_video_declaring_huge_frames_is_refused(capsys, tmp_path) -> None:
    huge = tmp_path / "huge.y4m"  # YUV4MPEG2: the frame size is in its text header
    huge.write_bytes(b"YUV4MPEG2 W12000 H12000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(4096))
    assert run(huge, "--bg", GREEN, "-o", tmp_path / "out.mp4") == 2
    assert "huge.y4m: its frames are 12000x12000 (144 megapixels)" in one_line(capsys)
    assert everything_under(tmp_path) == ["huge.y4m"]


def test_the_server_answers_an_oversize_picture_with_422(tmp_path) -> None:
    """As the picture and as the background picture, with the limit the server's settings say;
    the picture the server took before stays taken (nothing else changed)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rtmatte.server.app import create_app
    from rtmatte.server.config import ServerConfig

    huge = png_declaring(tmp_path / "huge.png", 100_000, 100_000).read_bytes()
    ok, small = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    config = ServerConfig(token="t" * 24, port=7860,
                          settings=load_settings(overrides={"max_picture_pixels": 4000}))
    with TestClient(create_app(config), base_url="http://127.0.0.1:7860",
                    headers={"Authorization": f"Bearer {'t' * 24}"}) as client:
        for field in ("file", "bg_file"):
            files = {"file": ("a.png", small.tobytes()), field: ("huge.png", huge)}
            answer = client.post("/api/remove", files=files)
            assert answer.status_code == 422, answer.text
            assert "100000x100000" in answer.json()["detail"]
        _, larger = cv2.imencode(".png", np.full((60, 80, 3), 90, np.uint8))
        answer = client.post("/api/remove", files={"file": ("b.png", larger.tobytes())})
        assert answer.status_code == 422  # 80x60 is over this server's 4000 pixels
        assert "80x60 (4800 pixels), over the limit of 4000 pixels" in answer.json()["detail"]


def test_the_python_api_refuses_over_the_limit(tmp_path) -> None:
    huge = png_declaring(tmp_path / "huge.png", 100_000, 100_000)
    with pytest.raises(PictureTooLarge, match="100000x100000"):
        api.process(huge, tmp_path / "out.png", bg="transparent")
    settings = load_settings(overrides={"max_picture_pixels": 10_000})
    with pytest.raises(PictureTooLarge, match="200x100"):
        api.remove_background(np.zeros((100, 200, 3), np.uint8), settings=settings)


# --- item 3: a start offset is not a truncation -----------------------------------------------

@pytest.mark.parametrize("ext", [".mkv", ".mp4", ".ts"])
def test_a_video_starting_at_5_s_is_complete(tmp_path, ext: str) -> None:
    source = encode(tmp_path / f"late{ext}", grey(25), start_s=5.0)
    out = tmp_path / f"out{ext if ext != '.ts' else '.mp4'}"
    api.process(source, out, bg=GREEN)
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 25
    assert everything_under(tmp_path) == sorted([source.name, out.name])


def test_a_cut_off_matroska_starting_at_5_s_is_still_called_cut_off(tmp_path) -> None:
    whole = encode(tmp_path / "whole.mkv", grey(75), start_s=5.0)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    with pytest.raises(Exception, match="truncated or corrupt"):
        api.process(cut, tmp_path / "out.mkv", bg=GREEN)


# --- item 7: cover art is not a video ---------------------------------------------------------

def audio_file(path: Path, cover: bool) -> Path:
    with av.open(str(path), "w") as out:
        audio = out.add_stream("libmp3lame", rate=44100)
        if cover:
            _, jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))
            art = out.add_stream("mjpeg")
            art.width = art.height = 32
            art.pix_fmt = "yuvj420p"
            art.disposition = av.stream.Disposition.attached_pic
            packet = av.Packet(jpeg.tobytes())
            packet.stream, packet.pts, packet.dts = art, 0, 0
            out.mux(packet)
        for index in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 2304), np.int16), format="s16",
                                               layout="stereo")
            frame.sample_rate, frame.pts = 44100, index * 1152
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path


@pytest.mark.parametrize("cover", [True, False])
def test_an_audio_file_is_refused_in_one_line(capsys, tmp_path, cover: bool) -> None:
    song = audio_file(tmp_path / "song.mp3", cover)
    assert run(song, "--bg", GREEN, "-o", tmp_path / "song.mp4") == 2
    line = one_line(capsys)
    assert "holds audio only" in line and ("cover picture" in line) == cover
    assert everything_under(tmp_path) == ["song.mp3"]


# --- item 2: anamorphic video keeps its pixel shape -------------------------------------------

def test_anamorphic_video_is_written_with_its_pixel_shape(tmp_path) -> None:
    """A 320x240 picture of 4:3 pixels shows 427 wide: so does the copy, and a background
    picture put behind it is not stretched (its square stays square as shown)."""
    source = encode(tmp_path / "wide.mp4", grey(3, 320, 240),
                    context={"sample_aspect_ratio": Fraction(4, 3)})
    bg = np.full((300, 300, 3), 255, np.uint8)
    bg[100:200, 100:200] = 0  # a black square, a third of the picture's side
    cv2.imwrite(str(tmp_path / "square.png"), bg)
    out = tmp_path / "out.mp4"
    api.process(source, out, bg=str(tmp_path / "square.png"),
                settings=load_settings(overrides={"post": {"enabled": False}}))
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.sample_aspect_ratio == Fraction(4, 3)
        assert stream.display_aspect_ratio == Fraction(16, 9)
        picture = next(container.decode(stream)).to_ndarray(format="rgb24")
    dark = picture.mean(axis=2) < 100
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    shown_width = (cols[-1] - cols[0] + 1) * 4 / 3
    assert abs(shown_width / (rows[-1] - rows[0] + 1) - 1) < 0.06


def test_anamorphic_video_into_vp9_is_written_square_and_said(tmp_path) -> None:
    """VP9 in WebM holds no pixel shape PyAV can set: the pictures are stretched to square
    pixels, as wide as the source is shown, and a line says so."""
    source = encode(tmp_path / "wide.mp4", grey(3, 320, 240),
                    context={"sample_aspect_ratio": Fraction(4, 3)})
    out = tmp_path / "out.webm"
    heard = notes_of(source, out)
    assert any("out.webm: VP9 here cannot carry the source's pixel shape (4:3)" in note
               and "427x240" in note for note in heard), heard
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.width in (427, 428) and stream.codec_context.height == 240


# --- item 9 and colour: what the copy is tagged with is what it holds --------------------------

def pq_clip(path: Path, frames: int = 4) -> Path:
    """A 10-bit HDR10 (BT.2020, PQ) clip: left half at PQ 0.51 (about 100 nits), right half at
    PQ 0.75 (about 1000 nits), neutral grey."""
    width, height = 64, 48
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p10le"
        stream.options = {"x265-params": "log-level=error"}
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace = 9, 16, 9
        context.color_range = 1
        luma = np.empty((height, width), np.uint16)
        luma[:, :width // 2] = round(64 + 0.51 * 876)
        luma[:, width // 2:] = round(64 + 0.75 * 876)
        chroma = np.full((height // 2, width // 2), 512, np.uint16)
        for index in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p10le")
            for plane, values in zip(frame.planes, (luma, chroma, chroma), strict=True):
                padded = np.zeros((values.shape[0], plane.line_size // 2), np.uint16)
                padded[:, :values.shape[1]] = values
                plane.update(padded.tobytes())
            frame.pts = index
            frame.color_primaries, frame.color_trc, frame.colorspace = 9, 16, 9
            frame.color_range = 1
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range


def test_hdr_is_converted_to_sdr_tagged_so_and_said(tmp_path) -> None:
    source = pq_clip(tmp_path / "hdr.mp4")
    assert tags(source) == (9, 16, 9, 1)
    out = tmp_path / "out.mp4"
    heard = notes_of(source, out, bg="blur")  # the frame's own surroundings: the picture shows
    assert any("HDR (PQ), 10-bit" in note and "SDR BT.709" in note for note in heard), heard
    assert tags(out) == (1, 1, 1, 1)  # BT.709 primaries, transfer and matrix, limited range
    with av.open(str(out)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    # 100 nits is SDR's reference white zone: light grey, not the PQ code's dim 129 of 255;
    # 1000 nits is above it, brighter still
    mid, high = rgb[:, :24].mean(), rgb[:, -24:].mean()
    assert 160 < mid < 230 and high > mid + 20


def test_sdr_colour_tags_are_kept_and_the_colours_go_back(tmp_path) -> None:
    """A BT.709-tagged clip comes out BT.709-tagged, its colours where they were (a saturated
    red converted with the wrong matrix moves by more than 10 levels)."""
    red = [np.tile(np.array([200, 30, 40], np.uint8), (48, 64, 1))] * 3
    source = encode(tmp_path / "red.mp4", red, context={
        "colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1})
    with av.open(str(source)) as container:
        shown = next(container.decode(video=0)).to_ndarray(format="rgb24")
    out = tmp_path / "out.mp4"
    api.process(source, out, bg="blur", settings=load_settings(
        overrides={"post": {"enabled": False}}))
    assert tags(out) == (1, 1, 1, 1)
    with av.open(str(out)) as container:
        copy = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(copy[8:-8, 8:-8].astype(int) - shown[8:-8, 8:-8]).max() <= 6
    for name in ("cutout.mov", "cutout.webm"):  # ProRes reads the tags off each frame
        api.process(source, tmp_path / name, bg="transparent")
        assert tags(tmp_path / name) == (1, 1, 1, 1)


# --- the smaller ones: said in one line -------------------------------------------------------

def combed(count: int, width: int = 128, height: int = 64, speed: int = 8) -> list[np.ndarray]:
    """Interlaced pictures of a bright bar moving right ``speed`` px a frame: the even rows (the
    top field) show it where it was, the odd rows (the bottom field, half a frame later) half
    a frame's motion further on, as a camera scanning fields would."""
    frames = []
    for index in range(count):
        picture = np.full((height, width, 3), 30, np.uint8)
        left = 10 + speed * index
        picture[0::2, left:left + 24] = 220
        picture[1::2, left + speed // 2:left + speed // 2 + 24] = 220
        frames.append(picture)
    return frames


def comb(picture: np.ndarray) -> float:
    """How far each row stands from the mean of its neighbours: high where fields disagree."""
    grey = picture.astype(np.float32).mean(axis=2)
    return float(np.abs(grey[1:-1] - (grey[:-2] + grey[2:]) / 2).mean())


def test_interlaced_video_is_deinterlaced_and_said(tmp_path) -> None:
    source = encode(tmp_path / "fields.mp4", combed(8),
                    options={"x264-params": "interlaced=1:tff=1", "crf": "10"})
    with VideoSource(source) as video:
        frames = list(video)
    with av.open(str(source)) as container:
        raw = list(container.decode(video=0))
    assert [f.pts for f in frames] == [r.pts for r in raw]  # one picture a frame, same times
    combs = [comb(r.to_ndarray(format="rgb24")) for r in raw]
    assert max(comb(f.rgb) for f in frames) < 0.2 * min(combs)
    heard = notes_of(source, tmp_path / "out.mp4")
    assert any("fields.mp4 is interlaced: it is deinterlaced" in note for note in heard), heard


def test_a_second_video_stream_is_said_to_be_left_out(tmp_path) -> None:
    source = encode(tmp_path / "two.mkv", grey(4), streams=2)
    heard = notes_of(source, tmp_path / "out.mkv")
    assert any("holds 2 video streams" in note and "left out" in note for note in heard)


def test_a_videos_own_alpha_is_said_to_be_not_read(tmp_path) -> None:
    source = encode(tmp_path / "cutout.webm", grey(4), codec="libvpx-vp9",
                    pix_fmt="yuva420p")
    heard = notes_of(source, tmp_path / "out.mp4")
    assert any("own alpha channel" in note and "not read" in note for note in heard), heard


def test_a_named_pipe_is_refused_not_waited_on(tmp_path) -> None:
    """Opening a pipe waits for a writer that never comes: refused before it is opened. (The
    bound only turns the old hang into a failure; the refusal comes in seconds.)"""
    pipe = tmp_path / "in.mp4"
    os.mkfifo(pipe)
    done = subprocess.run([sys.executable, "-m", "rtmatte.cli", str(pipe), "--bg", GREEN,
                           "-o", str(tmp_path / "out.mp4"), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"rtmatte: {pipe}: is not a regular file (a pipe, socket or device); rtmatte reads "
        "files, and cameras as camera, camera:N or /dev/videoN"]
    assert everything_under(tmp_path) == ["in.mp4"]
