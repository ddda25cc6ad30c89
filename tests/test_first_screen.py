"""The first screen teaches: bare ``rtmatte`` gives a short intro, ``--help`` names the commands
before the flags, every flag says what it does, and the demo can keep its sample clip."""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import pytest

from rtmatte.cli.main import SUBCOMMANDS, main


def test_bare_rtmatte_prints_a_short_intro_and_exits_0(capsys) -> None:
    assert main([]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) <= 12 and err == ""
    assert "replaces the background" in lines[0]
    for command in ("rtmatte demo", "rtmatte VIDEO --bg PICTURE",
                    "rtmatte camera --bg blur --vcam", "rtmatte serve", "rtmatte doctor"):
        assert any(line.strip().startswith(command) for line in lines), command
    assert lines[-1] == "rtmatte --help for everything"


def test_help_lists_the_subcommands_before_the_flags(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    commands = lines.index("commands:")
    first_flag = next(i for i, line in enumerate(lines) if line.lstrip().startswith("--bg"))
    assert commands < first_flag and commands < 10  # on the first screen, not the last line
    for name in SUBCOMMANDS:
        assert any(line.strip().startswith(f"rtmatte {name}")
                   for line in lines[commands:first_flag]), name


class _Built(BaseException):  # past main()'s catch-all for unexpected errors
    """Raised in place of parsing, carrying the parser a subcommand built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__(parser.prog)
        self.parser = parser


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every parser nested under it (``rtmatte models list``)."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_every_flag_of_every_command_says_what_it_does(command: str, monkeypatch) -> None:
    """Each subcommand builds its real parser; parsing is stopped right there to inspect it."""
    def stop(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Built(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    with pytest.raises(_Built) as built:
        main([command, "--help"] if command else ["--help"])
    missing = [f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
               for parser in _parsers(built.value.parser) for action in parser._actions
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert missing == []


def test_bench_help_speaks_in_words_not_letters(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "(b)" not in out and "(d)" not in out
    assert "model alone" in out and "naive loop" in out


def test_the_demo_can_keep_its_sample_clip(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--frames", "3", "--keep-clip"]) == 0
    result, clip = tmp_path / "rtmatte-demo.mp4", tmp_path / "rtmatte-demo-input.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.name, result.name]
    assert str(clip.name) in capsys.readouterr().err
    with av.open(str(clip)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 3
    assert main([str(clip), "--bg", "blur", "--quiet"]) == 0  # a first try of one's own
    # the name is taken: refused before any work, nothing replaced, without --overwrite
    before = clip.read_bytes()
    assert main(["demo", "--frames", "3", "--keep-clip", "-o", "rtmatte-demo.mp4"]) == 2
    assert clip.read_bytes() == before
    assert main(["demo", "--frames", "3", "--keep-clip", "-o", "rtmatte-demo.mp4",
                 "--overwrite", "--quiet"]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
