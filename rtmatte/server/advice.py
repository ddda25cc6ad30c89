"""What the panel says when the camera cannot run: plain words, and what to do about it.

The command line's messages are written for a terminal (every module option, the files under
/etc); a person in the panel needs one sentence, at most one command to copy, and a page to
read more. The error itself stays in the API's ``error`` field for scripts.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import asdict, dataclass

from rtmatte.errors import InputError, StreamError, VirtualCameraError

#: the set-up page the panel links to, served by rtmatte itself
VIRTUAL_CAMERA_HELP = "/help/virtual-camera"
_MODPROBE = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="rtmatte"'
#: the package manager found on this machine, and how it installs the module
_INSTALL = (("apt-get", "sudo apt install -y v4l2loopback-dkms"),
            ("dnf", "sudo dnf install -y akmod-v4l2loopback"),
            ("pacman", "sudo pacman -S --noconfirm v4l2loopback-dkms"))


@dataclass(frozen=True)
class Advice:
    text: str
    command: str | None = None
    help: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def virtual_camera_command() -> str | None:
    """The one command that makes a virtual camera here: Linux with a known package manager
    installs and loads v4l2loopback; elsewhere it is a few clicks in OBS (no command)."""
    if not sys.platform.startswith("linux"):
        return None
    for tool, install in _INSTALL:
        if shutil.which(tool):
            return f"{install} && {_MODPROBE}"
    return _MODPROBE


def for_failure(error: BaseException, said: str, source: str | None) -> Advice:
    """What to tell a person whose camera run failed with ``error``; ``said`` is its message
    as the page may show it (the server's paths taken out)."""
    if isinstance(error, VirtualCameraError):
        if sys.platform.startswith("linux"):
            text = ("Video-call apps cannot see rtmatte yet: this computer has no virtual "
                    "camera. Run this command once in a terminal, then press Start again. "
                    "(The preview works without it: untick “Send to video-call apps”.)")
        else:
            text = ("Video-call apps cannot see rtmatte yet: install OBS Studio, click "
                    "“Start Virtual Camera” once and close OBS, then press Start again.")
        return Advice(text, virtual_camera_command(), VIRTUAL_CAMERA_HELP)
    camera = source is not None and source != "file"
    if camera and isinstance(error, InputError):
        return Advice("The camera could not be opened. Check that it is plugged in and that no "
                      "other app (a video call, OBS) is using it, then press Start again.")
    if camera and isinstance(error, StreamError):
        return Advice("The camera stopped sending pictures. Check its cable, then press Start "
                      "again.")
    text = said.strip().rstrip(".")
    return Advice(f"The camera stopped: {text}. Press Start to try again.")
