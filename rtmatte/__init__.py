"""rtmatte: local-first video and webcam background replacement with recurrent video matting."""

from rtmatte.errors import RtmatteError

__version__ = "0.1.0"

__all__ = ["RtmatteError", "__version__"]
