"""Subtitle streams carried beside the processed video: copied, or converted between text codecs.

Text subtitles (SubRip, ASS, mov_text, WebVTT) all decode to the same ASS dialogue lines, so a
container that cannot hold the source codec still gets the cues in the text codec it does hold.
Picture subtitles (DVD, Blu-ray, DVB) cannot be turned into text; they travel only by copy.

A subtitle is never worth the video and the audio: an encoder that refuses the track is
rehearsed before the track is added (the caller then leaves it out with a note), and a cue that
cannot be converted mid-way (text that is not UTF-8, a dialogue line the encoder cannot read)
is left out on its own, with one note for the track at the end.
"""

from __future__ import annotations

from fractions import Fraction

import av
from av.subtitles.stream import SubtitleStream

#: the text codec each container holds when the source's own codec cannot be copied into it
TEXT_SUBTITLE_CODEC = {".mkv": "subrip", ".webm": "webvtt"}
DEFAULT_TEXT_SUBTITLE_CODEC = "mov_text"

#: the script header given to the text encoders when a source track has none they can read (an
#: ASS/SSA track muxed without its [Script Info]): the format's required sections with one plain
#: style, which is all the text codecs keep of a style anyway
PLAIN_ASS_HEADER = (
    b"[Script Info]\r\n"
    b"ScriptType: v4.00+\r\n"
    b"PlayResX: 384\r\n"
    b"PlayResY: 288\r\n"
    b"\r\n"
    b"[V4+ Styles]\r\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\r\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\r\n\r\n"
    b"[Events]\r\n"
    b"Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)

_AV_ERRORS = (av.error.FFmpegError, ValueError)


def _encoder_opens(codec: str, header: bytes | None, time_base: Fraction) -> bool:
    """Whether ``codec``'s encoder starts with ``header`` (they parse it when they open)."""
    context = av.CodecContext.create(codec, "w")
    context.subtitle_header = header
    context.time_base = time_base
    try:
        context.open()
    except _AV_ERRORS:
        return False
    return True


class SubtitleTrack:
    """One subtitle stream, copied packet for packet or re-encoded cue by cue into ``target``.

    Raises ``ValueError`` (or an FFmpeg error) before adding anything to ``output`` when the
    track cannot be converted at all; ``notes`` says what changed in setting it up, and
    :meth:`finish` what was lost on the way.
    """

    def __init__(self, output: av.container.OutputContainer, source: SubtitleStream,
                 target: str | None, label: str = "subtitle stream") -> None:
        self.source = source
        self.label = label
        self.notes: list[str] = []
        self._left_out: list[float] = []
        name = source.codec_context.codec.canonical_name
        self.copied = target is None
        if target is None:
            self.stream = output.add_stream_from_template(source)
            self.codec = name
            return
        decoder = source.codec_context
        decoder.open(strict=False)  # makes the decoder state its ASS header, which encoders need
        header = decoder.subtitle_header
        if not _encoder_opens(target, header, source.time_base):
            if not _encoder_opens(target, PLAIN_ASS_HEADER, source.time_base):
                raise ValueError(f"the {target} encoder does not start")
            if header:  # a header was there and is lost; a missing one loses nothing
                self.notes.append(f"{label}: its script header could not be read, so its cues "
                                  "were converted with a plain default style")
            header = PLAIN_ASS_HEADER
        self.stream = output.add_stream(target)
        self.stream.codec_context.subtitle_header = header
        self.stream.time_base = source.time_base
        self.stream.codec_context.time_base = source.time_base
        self.stream.codec_context.open()  # now, as rehearsed: never part way through the run
        self.codec = f"{name}->{target}"
        self._target = target
        self._decoder = decoder

    def mux(self, output: av.container.OutputContainer, packet: av.Packet) -> None:
        if packet.dts is None or packet.size == 0:
            return
        if self.copied:
            packet.stream = self.stream
            output.mux(packet)
            return
        try:
            cues = self._decoder.decode2(packet)
            if cues is None or len(cues) == 0:
                return
            encoded = self.stream.codec_context.encode_subtitle(cues)
        except _AV_ERRORS:  # this cue alone is lost, never the file
            self._left_out.append(float(packet.pts * packet.time_base)
                                  if packet.pts is not None else 0.0)
            return
        # the encoder stamps packets in the decoder's microseconds; the source packet's own
        # timing is exact in its time base, so it is kept
        encoded.stream = self.stream
        encoded.time_base = packet.time_base
        encoded.pts = encoded.dts = packet.pts
        encoded.duration = packet.duration
        output.mux(encoded)

    def finish(self) -> list[str]:
        """What is left to say once the track is written: which cues could not be converted
        and were left out (one line for the track, not one per cue)."""
        if not self._left_out:
            return []
        count = len(self._left_out)
        return [f"{self.label}: {count} cue{'s' * (count != 1)} could not be converted to "
                f"{self._target} (text that is not UTF-8, or a line the encoder cannot read) "
                f"and {'were' if count != 1 else 'was'} left out, the first at "
                f"{self._left_out[0]:.2f} s"]


def is_text(stream: SubtitleStream) -> bool:
    """Whether the stream's cues are text (convertible), as opposed to pictures."""
    return bool(stream.codec_context.codec.text_sub)
