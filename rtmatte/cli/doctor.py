"""``rtmatte doctor``: the body lives with the diagnostics (rtmatte/diagnostics/doctor.py)."""

from rtmatte.diagnostics.doctor import main as run

__all__ = ["run"]
