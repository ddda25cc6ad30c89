"""Carrying a source's audio into the output file beside the processed video.

Audio never enters the frame pipeline. The sink asks this class to catch up to the video's
current time before each video packet, so audio and video are interleaved as they are written
and memory stays flat however long the file is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

#: re-encode target when the output container cannot hold the source codec as it is
_FALLBACK_CODEC = {".webm": "libopus"}
_DEFAULT_FALLBACK = "aac"
_LEAD_SECONDS = 0.5


class _Track:
    """One audio stream: copied packet for packet, or decoded and re-encoded."""

    def __init__(self, output: av.container.OutputContainer, source: av.audio.stream.AudioStream,
                 suffix: str) -> None:
        self.source = source
        codec = source.codec_context.name
        self.copy = codec in output.supported_codecs
        if self.copy:
            self.stream = output.add_stream_from_template(source)
            self.resampler = None
        else:
            target = _FALLBACK_CODEC.get(suffix, _DEFAULT_FALLBACK)
            rate = 48000 if target == "libopus" else (source.rate or 48000)
            self.stream = output.add_stream(target, rate=rate)
            self.stream.layout = "stereo" if source.channels != 1 else "mono"
            fmt = "flt" if target == "libopus" else "fltp"
            self.resampler = av.AudioResampler(format=fmt, layout=self.stream.layout.name,
                                               rate=rate)
        self.codec = codec if self.copy else f"{codec}->{self.stream.codec_context.name}"

    def mux(self, output: av.container.OutputContainer, packet: av.Packet) -> None:
        if self.copy:
            if packet.dts is None:
                return
            packet.stream = self.stream
            output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for converted in self.resampler.resample(frame):
                output.mux(self.stream.encode(converted))

    def flush(self, output: av.container.OutputContainer) -> None:
        if self.copy:
            return
        for converted in self.resampler.resample(None):
            output.mux(self.stream.encode(converted))
        output.mux(self.stream.encode(None))


class AudioCarrier:
    """Copies (or, where the container needs it, re-encodes) every audio stream of ``source``."""

    def __init__(self, source: Path, output: av.container.OutputContainer, suffix: str) -> None:
        self._input = av.open(str(source))
        self._output = output
        self.tracks = [_Track(output, s, suffix) for s in self._input.streams.audio]
        self._by_index = {t.source.index: t for t in self.tracks}
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._done = not self.tracks

    def feed_until(self, seconds: float) -> None:
        """Write audio packets up to ``seconds`` (plus a small lead) of presentation time."""
        if self._done:
            return
        if self._packets is None:
            self._packets = iter(self._input.demux(*self._input.streams.audio))
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
            self._by_index[packet.stream.index].mux(self._output, packet)

    def finish(self) -> None:
        """Write the rest of the audio, flush re-encoders, and close the source."""
        self.feed_until(float("inf"))
        for track in self.tracks:
            track.flush(self._output)
        self._input.close()

    def close(self) -> None:
        self._input.close()
