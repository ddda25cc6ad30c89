"""Carrying a source's audio and subtitle streams into the output file beside the processed video.

Neither enters the frame pipeline. The sink asks the carrier to catch up to the video's current
time before each video packet, so every stream is interleaved as it is written and memory stays
flat however long the file is. Whatever cannot go into the output as it is is re-encoded; what
changes on the way (a re-encode, a downmix, a subtitle left out) is said in ``notes``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.codec.codec import Codec

from rtmatte.errors import InputError, OutputError
from rtmatte.sinks.subtitles import (
    DEFAULT_TEXT_SUBTITLE_CODEC,
    TEXT_SUBTITLE_CODEC,
    SubtitleTrack,
    is_text,
)

#: re-encode target when the output container cannot hold the source codec as it is
_FALLBACK_CODEC = {".webm": "libopus"}
_DEFAULT_FALLBACK = "aac"
_FALLBACK_NAME = {"libopus": "Opus", "aac": "AAC"}
_LEAD_SECONDS = 0.5
#: how far into the source to look for each audio stream's first packet, for the copy rehearsal
_PROBE_PACKETS = 500
_AV_ERRORS = (av.error.FFmpegError, ValueError)


def _muxer_takes(output: av.container.OutputContainer, stream: av.stream.Stream,
                 packet: av.Packet | None) -> bool:
    """Whether ``output``'s muxer takes ``stream`` copied as it is.

    ``supported_codecs`` is not enough: the mp4 muxer lists PCM but refuses it only when it
    writes the sample description at the end, so the copy is rehearsed in memory with the
    stream's first packet, header to trailer.
    """
    probe = av.open(io.BytesIO(), "w", format=output.format.name)
    try:
        copy = probe.add_stream_from_template(stream)
        if packet is None:
            probe.start_encoding()
        else:
            packet.stream = copy
            probe.mux(packet)
        probe.close()
    except _AV_ERRORS:
        return False
    return True


def _first_packets(source: Path, streams: list[AudioStream]) -> dict[int, av.Packet]:
    """The first timed packet of each of ``streams``, read from a separate opening of the file."""
    found: dict[int, av.Packet] = {}
    if not streams:
        return found
    with av.open(str(source)) as container:
        wanted = [container.streams[s.index] for s in streams]
        for count, packet in enumerate(container.demux(*wanted)):
            if packet.dts is not None and packet.size:
                found.setdefault(packet.stream.index, packet)
            if len(found) == len(wanted) or count >= _PROBE_PACKETS:
                break
    return found


def _opens(codec: str, rate: int, layout: str, fmt: str) -> bool:
    context = av.CodecContext.create(codec, "w")
    context.sample_rate, context.layout, context.format = rate, layout, fmt
    context.time_base = Fraction(1, rate)
    try:
        context.open()
    except _AV_ERRORS:
        return False
    return True


def _encoder_setup(codec: str, source: AudioStream) -> tuple[int, str, str]:
    """Rate, layout and sample format for re-encoding ``source`` with ``codec``.

    The source's own layout is kept where the encoder takes it; next its standard layout for
    as many channels (libopus takes 5.1 but not 5.1(side)); stereo (or mono) only as a last
    resort, which the caller reports as a downmix.
    """
    encoder = Codec(codec, "w")
    rates = encoder.audio_rates or []
    rate = source.rate or 48000
    if rates and rate not in rates:
        rate = 48000 if 48000 in rates else max(rates)
    formats = [f.name for f in encoder.audio_formats or []]
    fmt = next((f for f in ("fltp", "flt") if f in formats), formats[0] if formats else "fltp")
    channels = source.channels or 2
    candidates = [source.layout.name, av.AudioLayout(f"{channels}c").name,
                  "stereo" if channels > 1 else "mono"]
    for layout in dict.fromkeys(candidates):
        if _opens(codec, rate, layout, fmt):
            return rate, layout, fmt
    raise ValueError(f"{codec} takes none of the layouts {candidates}")


class _AudioTrack:
    """One audio stream: copied packet for packet, or decoded and re-encoded."""

    def __init__(self, output: av.container.OutputContainer, source: AudioStream, suffix: str,
                 copy: bool, label: str) -> None:
        self.source = source
        self.copy = copy
        self.notes: list[str] = []
        name = source.codec_context.codec.canonical_name
        if copy:
            self.stream = output.add_stream_from_template(source)
            self.resampler = None
            self.codec = name
            return
        target = _FALLBACK_CODEC.get(suffix, _DEFAULT_FALLBACK)
        rate, layout, fmt = _encoder_setup(target, source)
        self.stream = output.add_stream(target, rate=rate, layout=layout)
        self.stream.codec_context.format = fmt
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        self._next_pts: int | None = None
        self.codec = f"{name}->{self.stream.codec_context.name}"
        self.notes.append(f"{label} ({name}) cannot go into {suffix} as it is: "
                          f"re-encoded to {_FALLBACK_NAME.get(target, target)}")
        before = source.channels or 2
        after = av.AudioLayout(layout).nb_channels
        if after < before:
            self.notes.append(f"{label}: {source.layout.name} downmixed to {layout} for {suffix} "
                              f"(the {_FALLBACK_NAME.get(target, target)} encoder cannot take "
                              f"{source.layout.name})")

    def mux(self, output: av.container.OutputContainer, packet: av.Packet) -> None:
        if self.copy:
            if packet.dts is None:
                return
            packet.stream = self.stream
            output.mux(packet)
            return
        for frame in packet.decode():
            if self._next_pts is None:
                # the first sound keeps its place against the video; samples count on from there
                start = frame.time if frame.time is not None else 0.0
                self._next_pts = round(start * self.stream.codec_context.sample_rate)
            frame.pts = None
            for converted in self.resampler.resample(frame):
                self._encode(output, converted)

    def _encode(self, output: av.container.OutputContainer, frame: av.AudioFrame | None) -> None:
        if frame is not None:
            frame.pts = self._next_pts or 0
            frame.time_base = Fraction(1, self.stream.codec_context.sample_rate)
            self._next_pts = frame.pts + frame.samples
        output.mux(self.stream.encode(frame))

    def flush(self, output: av.container.OutputContainer) -> None:
        if self.copy:
            return
        for converted in self.resampler.resample(None):
            self._encode(output, converted)
        self._encode(output, None)


class AudioCarrier:
    """Carries every audio and subtitle stream of ``source`` into ``output`` beside the video.

    Audio is copied where the muxer takes it and re-encoded otherwise (Opus for .webm, AAC
    elsewhere), keeping its channel layout where the encoder can. Subtitles are copied, or
    converted to the container's text codec (mov_text, SubRip for .mkv, WebVTT for .webm);
    picture subtitles a container cannot hold are left out with a note.
    """

    def __init__(self, source: Path, output: av.container.OutputContainer, suffix: str) -> None:
        source = Path(source)
        try:
            self._input = av.open(str(source))
            audio = list(self._input.streams.audio)
            firsts = _first_packets(source, audio)
        except _AV_ERRORS as exc:
            raise InputError(f"cannot read the audio and subtitles of {source.name}") from exc
        self._output = output
        self._suffix = suffix
        self.notes: list[str] = []
        try:
            self.tracks = [self._audio_track(s, n, firsts.get(s.index))
                           for n, s in enumerate(audio, 1)]
            self.subtitles = [t for n, s in enumerate(self._input.streams.subtitles, 1)
                              if (t := self._subtitle_track(s, n)) is not None]
        except OutputError:
            self._input.close()
            raise
        self._by_index = {t.source.index: t for t in [*self.tracks, *self.subtitles]}
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._done = not self._by_index

    def _audio_track(self, stream: AudioStream, number: int,
                     first: av.Packet | None) -> _AudioTrack:
        label = f"audio stream {number}"
        copy = _muxer_takes(self._output, stream, first)
        try:
            track = _AudioTrack(self._output, stream, self._suffix, copy, label)
        except _AV_ERRORS as exc:
            raise OutputError(
                f"{label} ({stream.codec_context.codec.canonical_name}, {stream.layout.name}) "
                f"cannot be written into {self._suffix}, neither as it is nor re-encoded"
            ) from exc
        self.notes.extend(track.notes)
        return track

    def _subtitle_track(self, stream: av.stream.Stream, number: int) -> SubtitleTrack | None:
        label = f"subtitle stream {number} ({stream.codec_context.codec.canonical_name})"
        if _muxer_takes(self._output, stream, None):
            target = None
        elif is_text(stream):
            target = TEXT_SUBTITLE_CODEC.get(self._suffix, DEFAULT_TEXT_SUBTITLE_CODEC)
        else:
            self.notes.append(f"{label} not carried: {self._suffix} cannot hold it, and its "
                              "cues are pictures that cannot be turned into text")
            return None
        try:
            track = SubtitleTrack(self._output, stream, target, label)
        except _AV_ERRORS:
            self.notes.append(f"{label} not carried: {self._suffix} cannot hold it and it "
                              f"could not be converted to {target}")
            return None
        if target is not None:
            self.notes.append(f"{label} converted to {target} for {self._suffix}")
        self.notes.extend(track.notes)
        return track

    def feed_until(self, seconds: float) -> None:
        """Write carried packets up to ``seconds`` (plus a small lead) of presentation time."""
        if self._done:
            return
        if self._packets is None:
            carried = [self._input.streams[i] for i in self._by_index]
            self._packets = iter(self._input.demux(*carried))
        limit = seconds + _LEAD_SECONDS
        while True:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._done = True
                return
            if packet.pts is not None and packet.time_base is not None \
                    and float(packet.pts * packet.time_base) > limit:
                self._pending = packet
                return
            with self._writing():
                self._by_index[packet.stream.index].mux(self._output, packet)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Muxer failures (the header is written with the first packet) as one typed error."""
        try:
            yield
        except _AV_ERRORS as exc:
            raise OutputError(f"cannot write the audio and subtitles into the {self._suffix} "
                              "file") from exc

    def finish(self) -> None:
        """Write the rest of the carried streams, flush re-encoders, and close the source."""
        self.feed_until(float("inf"))
        for track in self.tracks:
            with self._writing():
                track.flush(self._output)
        for subtitle in self.subtitles:
            self.notes.extend(subtitle.finish())
        self._input.close()

    def close(self) -> None:
        self._input.close()
