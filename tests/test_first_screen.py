"""The first screen teaches: bare ``rtmatte`` gives a short intro, ``--help`` names the commands
before the flags, every flag says what it does, and the demo can keep its sample clip."""

from __future__ import annotations

from rtmatte.cli.main import main


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
