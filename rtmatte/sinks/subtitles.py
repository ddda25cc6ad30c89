"""Subtitle streams carried beside the processed video: copied, or converted between text codecs.

Text subtitles (SubRip, ASS, mov_text, WebVTT) all decode to the same ASS dialogue lines, so a
container that cannot hold the source codec still gets the cues in the text codec it does hold.
Picture subtitles (DVD, Blu-ray, DVB) cannot be turned into text; they travel only by copy.
"""

from __future__ import annotations

import av
from av.subtitles.stream import SubtitleStream

#: the text codec each container holds when the source's own codec cannot be copied into it
TEXT_SUBTITLE_CODEC = {".mkv": "subrip", ".webm": "webvtt"}
DEFAULT_TEXT_SUBTITLE_CODEC = "mov_text"


class SubtitleTrack:
    """One subtitle stream, copied packet for packet or re-encoded cue by cue into ``target``."""

    def __init__(self, output: av.container.OutputContainer, source: SubtitleStream,
                 target: str | None) -> None:
        self.source = source
        name = source.codec_context.codec.canonical_name
        self.copied = target is None
        if target is None:
            self.stream = output.add_stream_from_template(source)
            self.codec = name
            return
        decoder = source.codec_context
        decoder.open(strict=False)  # makes the decoder state its ASS header, which encoders need
        self.stream = output.add_stream(target)
        self.stream.codec_context.subtitle_header = decoder.subtitle_header
        self.stream.time_base = source.time_base
        self.stream.codec_context.time_base = source.time_base
        self.codec = f"{name}->{target}"
        self._decoder = decoder

    def mux(self, output: av.container.OutputContainer, packet: av.Packet) -> None:
        if packet.dts is None or packet.size == 0:
            return
        if self.copied:
            packet.stream = self.stream
            output.mux(packet)
            return
        cues = self._decoder.decode2(packet)
        if cues is None or len(cues) == 0:
            return
        # the encoder stamps packets in the decoder's microseconds; the source packet's own
        # timing is exact in its time base, so it is kept
        encoded = self.stream.codec_context.encode_subtitle(cues)
        encoded.stream = self.stream
        encoded.time_base = packet.time_base
        encoded.pts = encoded.dts = packet.pts
        encoded.duration = packet.duration
        output.mux(encoded)


def is_text(stream: SubtitleStream) -> bool:
    """Whether the stream's cues are text (convertible), as opposed to pictures."""
    return bool(stream.codec_context.codec.text_sub)
