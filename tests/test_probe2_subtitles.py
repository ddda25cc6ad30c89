"""A subtitle track that cannot be converted as it is never costs the video and the audio.

Sources are real Matroska files muxed with PyAV: 12 frames of video, a stereo AAC tone and one
subtitle track, either ASS dialogue without its script header (as some muxers write it) or
SubRip cues in Latin-1 (an old .srt, not UTF-8). Each goes through the whole CLI into every
container that needs the cues converted.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from rtmatte.cli import main
from rtmatte.samples import make_clip

FRAMES = 12
DIALOGUE = [b"Hello there", b"Second cue"]
LATIN1_SRT = ("1\n00:00:00,000 --> 00:00:00,200\nCaf\xe9 ol\xe9\n\n"
              "2\n00:00:00,250 --> 00:00:00,450\nSecond cue\n").encode("latin-1")


def _with_subtitles(path: Path, add_track) -> Path:
    """``path`` (.mkv): the video and audio of a real clip plus the track ``add_track`` muxes."""
    clip = make_clip(path.with_suffix(".mp4"), frames=FRAMES, size=(160, 120), fps=12)
    with av.open(str(clip)) as source, av.open(str(path), "w") as target:
        copies = {s.index: target.add_stream_from_template(s) for s in source.streams}
        muxes = add_track(target)
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                target.mux(packet)
        muxes()
    return path


def _headerless_ass(target: av.container.OutputContainer):
    stream = target.add_stream("ass")  # no subtitle_header: no [Script Info], no [Events]

    def muxes() -> None:
        for order, text in enumerate(DIALOGUE):
            packet = av.Packet(b"%d,0,Default,,0,0,0,,%s" % (order, text))
            packet.stream, packet.time_base = stream, Fraction(1, 1000)
            packet.pts = packet.dts = order * 400
            packet.duration = 300
            target.mux(packet)
    return muxes


def _latin1_srt(folder: Path):
    srt_path = folder / "old.srt"
    srt_path.write_bytes(LATIN1_SRT)

    def add(target: av.container.OutputContainer):
        srt = av.open(str(srt_path))
        stream = target.add_stream_from_template(srt.streams.subtitles[0])

        def muxes() -> None:
            for packet in srt.demux(srt.streams.subtitles[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    target.mux(packet)
            srt.close()
        return muxes
    return add


def _streams(path: Path) -> tuple[int, float, list[str]]:
    """Decoded video frames, decoded audio seconds, and the text of every subtitle cue."""
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(container.streams.video[0]))
        container.seek(0)
        audio = container.streams.audio[0]
        seconds = sum(f.samples for f in container.decode(audio)) / audio.codec_context.sample_rate
        texts = []
        if container.streams.subtitles:
            container.seek(0)
            stream = container.streams.subtitles[0]
            for packet in container.demux(stream):
                for cue in (stream.codec_context.decode2(packet) if packet.size else None) or []:
                    texts.append(cue.ass.decode().split(",", 8)[-1])
        return frames, seconds, texts


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".webm"])
def test_ass_without_its_script_header_is_converted(capsys, tmp_path, suffix) -> None:
    source = _with_subtitles(tmp_path / "talk.mkv", _headerless_ass)
    out = tmp_path / f"out{suffix}"
    assert main([str(source), "-o", str(out), "--bg", "#00b140"]) == 0
    frames, seconds, texts = _streams(out)
    assert frames == FRAMES
    assert seconds == pytest.approx(FRAMES / 12, abs=0.05)
    assert texts == [t.decode() for t in DIALOGUE]
    err = capsys.readouterr().err
    assert "subtitle stream 1 (ass) converted to" in err and "Traceback" not in err


def test_a_cue_that_cannot_be_converted_costs_only_itself(capsys, tmp_path) -> None:
    source = _with_subtitles(tmp_path / "talk.mkv", _latin1_srt(tmp_path))
    out = tmp_path / "out.mp4"
    assert main([str(source), "-o", str(out), "--bg", "#00b140"]) == 0
    frames, seconds, texts = _streams(out)
    assert frames == FRAMES
    assert seconds == pytest.approx(FRAMES / 12, abs=0.05)
    assert texts == ["Second cue"]  # the Latin-1 cue is left out, the UTF-8 one is kept
    notes = [line for line in capsys.readouterr().err.splitlines() if "left out" in line]
    assert len(notes) == 1 and notes[0].startswith(
        "rtmatte: subtitle stream 1 (subrip): 1 cue could not be converted to mov_text (text "
        "that is not UTF-8, or a line the encoder cannot read) and was left out, the first at 0.")
