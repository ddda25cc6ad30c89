"""A preview window (OpenCV highgui) with keys: q quits, b cycles backgrounds, space toggles."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from rtmatte.errors import UserError
from rtmatte.handover import Mailbox
from rtmatte.types import Frame, Matte

WINDOW = "rtmatte preview (q quit, b background, space effect)"


def gui_problem() -> str | None:
    """Why a window cannot be shown here, or None when it can.

    opencv-python-headless (rtmatte's default dependency, since servers have no screen) is built
    without any GUI toolkit, and a Linux session without X11 or Wayland has nowhere to draw.
    """
    info = cv2.getBuildInformation()
    gui_line = next((line for line in info.splitlines() if line.strip().startswith("GUI:")), "")
    if "NONE" in gui_line.upper():
        return ("this OpenCV has no window support (opencv-python-headless); for --preview "
                "run `pip uninstall opencv-python-headless && pip install opencv-python`")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display here (DISPLAY and WAYLAND_DISPLAY are unset); drop --preview"
    return None


class PreviewWindow:
    """Shows the newest output picture; must be pumped from the main thread (:meth:`pump`).

    Some platforms only allow windows on the main thread, so the pipeline threads post pictures
    and the main thread, which waits anyway, draws them and reads the keyboard.
    """

    def __init__(self) -> None:
        problem = gui_problem()
        if problem:
            raise UserError(f"--preview: {problem}")
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        self._pictures: Mailbox[np.ndarray] = Mailbox()

    def write(self, picture: np.ndarray, frame: Frame | None = None,
              matte: Matte | None = None) -> None:
        self._pictures.put(picture)

    def pump(self, wait_ms: int = 10) -> str | None:
        """Draw the newest picture, if any; returns the key pressed ('q', 'b', ' ') or None."""
        picture = self._pictures.get(timeout=0)
        if picture is not None:
            code = cv2.COLOR_RGBA2BGRA if picture.shape[2] == 4 else cv2.COLOR_RGB2BGR
            cv2.imshow(WINDOW, cv2.cvtColor(picture, code))
        key = cv2.waitKey(wait_ms) & 0xFF
        if key in (ord("q"), 27):
            return "q"
        if key in (ord("b"), ord(" ")):
            return chr(key)
        return None

    def close(self) -> None:
        cv2.destroyWindow(WINDOW)

    def abort(self) -> None:
        self.close()
