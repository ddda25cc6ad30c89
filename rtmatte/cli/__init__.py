"""The command line: parses flags and calls the same Python API a library user calls
(:mod:`rtmatte.api`). Nothing in the package imports it."""

from rtmatte.cli.main import main
from rtmatte.cli.process import build_parser

__all__ = ["build_parser", "main"]
