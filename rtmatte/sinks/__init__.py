"""Outputs: every kind meets :class:`~rtmatte.sinks.base.Sink`."""

from rtmatte.sinks.alpha import AlphaSequenceSink
from rtmatte.sinks.base import Sink, SinkGroup
from rtmatte.sinks.image import ImageSink, write_image
from rtmatte.sinks.video_file import VideoFileSink, refuse_alpha_target

__all__ = ["AlphaSequenceSink", "ImageSink", "Sink", "SinkGroup", "VideoFileSink",
           "refuse_alpha_target", "write_image"]
