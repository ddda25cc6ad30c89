"""``python -m rtmatte.server``: the ``serve`` subcommand on its own."""

from __future__ import annotations

import argparse
import sys

from rtmatte.errors import UserError
from rtmatte.server import command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtmatte serve", description=command.DESCRIPTION)
    command.add_arguments(parser)
    try:
        return command.run(parser.parse_args(argv))
    except UserError as exc:
        print(f"rtmatte: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
