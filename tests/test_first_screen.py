"""The first screen teaches: bare ``rtmatte`` gives a short intro, ``--help`` names the commands
before the flags, every flag says what it does, and the demo can keep its sample clip."""

from __future__ import annotations

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


def test_bench_help_speaks_in_words_not_letters(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "(b)" not in out and "(d)" not in out
    assert "model alone" in out and "naive loop" in out
