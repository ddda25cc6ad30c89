"""Typed errors. Library code raises these; only the CLI turns them into messages and exit codes.

Every subclass of :class:`UserError` is something the person running rtmatte can fix (a path, a
flag, a file); the CLI prints its message and exits with code 2, without a traceback.
"""

from __future__ import annotations


class RtmatteError(Exception):
    """Base of every error rtmatte raises on purpose."""


class UserError(RtmatteError):
    """Bad input or settings: reported as one message and exit code 2."""

    exit_code = 2


class InputError(UserError):
    """The input (video, image, folder, camera) is missing, unreadable or not what it claims."""


class PictureTooLarge(UserError):
    """A picture or video frame declares a size over the ``max_picture_pixels`` setting; refused
    before it is decoded, so a small file declaring a huge picture cannot take the memory."""


class BackgroundError(UserError):
    """The --bg argument cannot be turned into a background."""


class OutputError(UserError):
    """The output cannot be written where asked, or would overwrite a file."""


class ModelError(UserError):
    """The model is unknown, cannot be fetched, or fails its checksum."""


class SettingsError(UserError):
    """A flag, preset or config file holds a value rtmatte cannot use."""


class ArgumentError(UserError, TypeError, ValueError):
    """A Python API call got an argument it cannot use: the wrong type (``api.process(123)``,
    ``bg=5``) or the wrong kind of picture (float, grey, RGBA). One rule for the whole API: it is
    a UserError, so ``except RtmatteError`` catches it, and also a TypeError and a ValueError,
    so code written to Python's own conventions catches it too."""


class BackendUnavailable(UserError):
    """The asked-for inference backend or device is not installed or not present here."""


class VirtualCameraError(UserError):
    """No virtual camera backend is usable; the message says how to set one up."""


class StreamError(RtmatteError):
    """A media stream broke mid-way (corrupt data, a camera gone). Carries how far it got."""

    exit_code = 2

    def __init__(self, message: str, frames_written: int = 0) -> None:
        super().__init__(message)
        self.frames_written = frames_written
