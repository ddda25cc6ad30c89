"""Audio and subtitles carried beside the video: every likely source codec into every container.

The carrier is driven with a tiny real video stream (no model) so the whole matrix runs in
seconds; one CLI run covers the model path.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from av.codec.codec import Codec

from rtmatte.cli import main
from rtmatte.errors import OutputError
from rtmatte.samples import clip_frame
from rtmatte.sinks.audio import AudioCarrier

OUTPUTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm")
RATE = 48000
SECONDS = 0.5
#: source audio encoder (first one present) and the container a user's file would hold it in
SOURCES = {
    "aac": (("aac",), ".mkv"),
    "mp3": (("libmp3lame", "mp3"), ".mkv"),
    "opus": (("libopus", "opus"), ".mkv"),
    "vorbis": (("libvorbis", "vorbis"), ".mkv"),
    "flac": (("flac",), ".mkv"),
    "pcm_s16le": (("pcm_s16le",), ".mov"),
    "pcm_s16le-mkv": (("pcm_s16le",), ".mkv"),  # channel order unspecified, as Matroska keeps it
    "ac3": (("ac3",), ".mkv"),
    "alac": (("alac",), ".mov"),
}
SRT = ("1\n00:00:00,000 --> 00:00:00,200\nHello there\n\n"
       "2\n00:00:00,250 --> 00:00:00,450\nSecond cue\n")


def _encoder(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            continue
        return name
    return None


def _add_audio(container: av.container.OutputContainer, codec: str,
               layout: str) -> av.audio.stream.AudioStream:
    stream = container.add_stream(codec, rate=RATE, layout=layout)
    if Codec(codec, "w").experimental:
        stream.codec_context.options = {"strict": "experimental"}
    return stream


def _write_tone(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                layout: str) -> None:
    fmt = stream.codec_context.codec.audio_formats[0].name
    channels = av.AudioLayout(layout).nb_channels
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=RATE)
    block = stream.codec_context.frame_size or 1024
    total = round(SECONDS * RATE)
    for start in range(0, total, block):
        t = np.arange(start, min(start + block, total)) / RATE
        tones = [0.2 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
        frame = av.AudioFrame.from_ndarray(np.stack(tones).astype(np.float32), format="fltp",
                                           layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
        for converted in resampler.resample(frame):
            container.mux(stream.encode(converted))
    for converted in resampler.resample(None):
        container.mux(stream.encode(converted))
    container.mux(stream.encode(None))


def _write_source(path: Path, codec: str | None, layout: str = "stereo", *,
                  video: bool = False, subtitles: Path | None = None,
                  spu_cues: int = 0) -> Path:
    """A real file: optional 160x120 video, one audio stream, optional SRT or DVD subtitles.

    Every stream is added before the first packet: the header is written with that packet.
    """
    srt = av.open(str(subtitles)) if subtitles is not None else None
    with av.open(str(path), "w") as container:
        picture = container.add_stream("libx264", rate=12) if video else None
        sound = _add_audio(container, codec, layout) if codec is not None else None
        text = container.add_stream_from_template(srt.streams.subtitles[0]) if srt else None
        spu = container.add_stream("dvd_subtitle") if spu_cues else None
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = 160, 120, "yuv420p"
            for index in range(6):
                frame = av.VideoFrame.from_ndarray(clip_frame(index, 6, 160, 120), "rgb24")
                frame.pts, frame.time_base = index, Fraction(1, 12)
                container.mux(picture.encode(frame))
            container.mux(picture.encode())
        if sound is not None:
            _write_tone(container, sound, layout)
        if text is not None:
            for packet in srt.demux(srt.streams.subtitles[0]):
                if packet.dts is not None:
                    packet.stream = text
                    container.mux(packet)
        for index in range(spu_cues):
            packet = av.Packet(_spu_picture())
            packet.stream, packet.time_base = spu, Fraction(1, 1000)
            packet.pts = packet.dts = index * 250
            packet.duration = 200
            container.mux(packet)
    if srt is not None:
        srt.close()
    return path


def _spu_picture() -> bytes:
    """One DVD subtitle packet: a 2x2 picture of colour 1, shown at once (DVD SPU layout)."""
    pixels = bytes([0x90, 0x90])  # one run of two colour-1 pixels per field line
    control = 4 + len(pixels)
    sequence = bytes([0, 0, 0, control, 0x01, 0x03, 0x01, 0x23, 0x04, 0xFF, 0xF0,
                      0x05, 0, 0, 1, 0, 0, 1, 0x06, 0, 4, 0, 5, 0xFF])
    size = control + len(sequence)
    return size.to_bytes(2, "big") + control.to_bytes(2, "big") + pixels + sequence


def _carry(source: Path, out: Path) -> AudioCarrier:
    """What the video sink does: a real video stream, the carrier fed before each packet."""
    suffix = out.suffix
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libvpx-vp9" if suffix == ".webm" else "libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        carrier = AudioCarrier(source, container, suffix)
        for index in range(12):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            for packet in [*stream.encode(frame)] + ([*stream.encode()] if index == 11 else []):
                carrier.feed_until(float(packet.pts * packet.time_base))
                container.mux(packet)
        carrier.finish()
    return carrier


def _audio(path: Path) -> list[tuple[str, float, int]]:
    """(codec, decoded seconds, channels) of each audio stream, by decoding every sample."""
    with av.open(str(path)) as container:
        found = []
        for stream in container.streams.audio:
            samples = sum(frame.samples for frame in container.decode(stream))
            container.seek(0)
            found.append((stream.codec_context.codec.canonical_name,
                          samples / stream.codec_context.sample_rate, stream.channels))
        return found


def _cues(path: Path) -> tuple[str, list[str]]:
    """The subtitle codec and the text of every non-empty cue."""
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        texts = []
        for packet in container.demux(stream):
            cues = stream.codec_context.decode2(packet) if packet.size else None
            for cue in cues or []:
                text = cue.ass.decode().split(",", 8)[-1]
                if text:
                    texts.append(text)
        return stream.codec_context.codec.canonical_name, texts


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    made = {}
    for name, (encoders, container) in SOURCES.items():
        encoder = _encoder(encoders)
        if encoder is not None:
            made[name] = _write_source(folder / f"{name}{container}", encoder)
    return made


@pytest.fixture(scope="module")
def srt_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("subs") / "cues.srt"
    path.write_text(SRT)
    return path


@pytest.mark.parametrize("suffix", OUTPUTS)
@pytest.mark.parametrize("codec", list(SOURCES))
def test_every_audio_codec_into_every_container(sources, tmp_path, codec, suffix) -> None:
    if codec not in sources:
        pytest.skip(f"this PyAV build has none of the encoders {SOURCES[codec][0]}")
    source = sources[codec]
    out = tmp_path / f"out{suffix}"
    carrier = _carry(source, out)
    [(source_codec, source_seconds, channels)] = _audio(source)
    with av.open(str(out)) as container:
        assert len(container.streams.video) == 1
    [(out_codec, out_seconds, out_channels)] = _audio(out)
    fallback = "opus" if suffix == ".webm" else "aac"
    assert out_codec in (source_codec, fallback)
    # two audio frames (1024 samples) of slack: encoders pad the last frame
    assert out_seconds == pytest.approx(source_seconds, abs=2 * 1024 / RATE)
    assert out_channels == channels
    assert carrier.tracks[0].codec.split("->")[-1].removeprefix("lib") == out_codec
    changed = out_codec != source_codec
    assert any("re-encoded" in note for note in carrier.notes) == changed


def test_pcm_into_mp4_is_reencoded_not_refused(sources, tmp_path) -> None:
    # the mp4 muxer lists PCM but refuses it without a known channel order
    carrier = _carry(sources["pcm_s16le-mkv"], tmp_path / "out.mp4")
    assert [t.codec for t in carrier.tracks] == ["pcm_s16le->aac"]
    assert carrier.notes == ["audio stream 1 (pcm_s16le) cannot go into .mp4 as it is: "
                             "re-encoded to AAC"]


@pytest.mark.parametrize(("codec", "layout", "suffix", "fallback"), [
    ("aac", "5.1", ".webm", "opus"),
    ("ac3", "5.1(side)", ".webm", "opus"),
    ("pcm_s16le", "5.1", ".mp4", "aac"),
    ("flac", "6.1", ".webm", "opus"),
])
def test_surround_keeps_its_channels_when_reencoded(tmp_path, codec, layout, suffix,
                                                    fallback) -> None:
    source = _write_source(tmp_path / "surround.mkv", codec, layout)
    carrier = _carry(source, tmp_path / f"out{suffix}")
    [(out_codec, seconds, channels)] = _audio(tmp_path / f"out{suffix}")
    assert (out_codec, channels) == (fallback, av.AudioLayout(layout).nb_channels)
    assert seconds == pytest.approx(SECONDS, abs=2 * 1024 / RATE)
    assert not [note for note in carrier.notes if "downmixed" in note]


def test_a_layout_the_encoder_refuses_is_downmixed_and_said(tmp_path) -> None:
    # Opus has no 2.1 (left, right, LFE) mapping; stereo is all that is left
    source = _write_source(tmp_path / "two_one.mkv", "aac", "2.1")
    carrier = _carry(source, tmp_path / "out.webm")
    assert _audio(tmp_path / "out.webm")[0][::2] == ("opus", 2)
    assert "audio stream 1: 2.1 downmixed to stereo for .webm (the Opus encoder cannot take " \
           "2.1)" in carrier.notes


@pytest.mark.parametrize(("suffix", "codec"), [
    (".mp4", "mov_text"), (".m4v", "mov_text"), (".mov", "mov_text"), (".mkv", "subrip"),
    (".webm", "webvtt"),
])
def test_text_subtitles_keep_their_cues(tmp_path, srt_file, suffix, codec) -> None:
    source = _write_source(tmp_path / "talk.mkv", "aac", subtitles=srt_file)
    out = tmp_path / f"out{suffix}"
    carrier = _carry(source, out)
    with av.open(str(out)) as container:
        assert len(container.streams.subtitles) == 1
        assert len(container.streams.audio) == 1
    assert _cues(out) == (codec, ["Hello there", "Second cue"])
    assert (f"subtitle stream 1 (subrip) converted to {codec} for {suffix}" in carrier.notes) \
        == (codec != "subrip")


def test_mov_text_goes_into_matroska_as_subrip(tmp_path, srt_file) -> None:
    mp4 = tmp_path / "phone.mp4"
    _carry(_write_source(tmp_path / "talk.mkv", "aac", subtitles=srt_file), mp4)
    _carry(mp4, tmp_path / "out.mkv")
    assert _cues(tmp_path / "out.mkv") == ("subrip", ["Hello there", "Second cue"])


def test_picture_subtitles_are_copied_or_left_out_with_a_note(tmp_path) -> None:
    source = _write_source(tmp_path / "dvd.mkv", "aac", spu_cues=2)
    with av.open(str(source)) as container:
        assert container.streams.subtitles[0].codec_context.codec.bitmap_sub
    carrier = _carry(source, tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as container:
        stream = container.streams.subtitles[0]
        assert sum(1 for p in container.demux(stream) if p.size) == 2
    assert carrier.notes == []
    carrier = _carry(source, tmp_path / "out.webm")
    with av.open(str(tmp_path / "out.webm")) as container:
        assert not container.streams.subtitles and len(container.streams.audio) == 1
    assert "subtitle stream 1 (dvd_subtitle) not carried: .webm cannot hold it, and its cues " \
           "are pictures that cannot be turned into text" in carrier.notes


def test_a_container_that_holds_no_audio_raises_a_typed_error(sources, tmp_path) -> None:
    refused = r"^audio stream 1 \(aac, stereo\) cannot be written into \.gif, neither as it is " \
              r"nor re-encoded$"
    with av.open(str(tmp_path / "out.gif"), "w") as container, \
            pytest.raises(OutputError, match=refused):
        AudioCarrier(sources["aac"], container, ".gif")


@pytest.mark.slow
def test_cli_writes_pcm_from_mov_into_mp4(tmp_path) -> None:
    # no channel layout atom, as many cameras write it: the case the mp4 muxer refuses to copy
    source = _write_source(tmp_path / "camera.mov", "pcm_s16le", "2 channels", video=True)
    out = tmp_path / "out.mp4"
    assert main([str(source), "--bg", "black", "-o", str(out), "--quiet"]) == 0
    [(codec, seconds, channels)] = _audio(out)
    assert (codec, channels) == ("aac", 2)
    assert seconds == pytest.approx(SECONDS, abs=2 * 1024 / RATE)
