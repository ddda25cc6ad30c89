"""``--ray HOST:PORT`` naming a head that does not answer: one line and exit 2 at once, nothing
created. No Ray cluster is started (the port is one nobody listens on), so this runs in the
default suite wherever Ray is installed."""

from __future__ import annotations

import socket
import time

import pytest

from rtmatte.cli.main import main
from rtmatte.cluster.connect import check_reachable
from rtmatte.errors import UserError

pytest.importorskip("ray")

#: Ray's own client retries an unreachable head for about a minute and more (it was killed at
#: 120 s in the probe that found this); the check refuses within its 5 s connect timeout
_PATIENCE_S = 30.0


def _unused_port() -> int:
    """A loopback port nothing listens on: bound to learn a free number, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_head_fails_at_once_and_creates_nothing(tmp_path, capsys, sample_clip):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(sample_clip.read_bytes())
    out = tmp_path / "out"
    address = f"127.0.0.1:{_unused_port()}"
    started = time.monotonic()
    code = main([str(folder), "-o", str(out), "--bg", "#00b140", "--ray", address])
    elapsed = time.monotonic() - started
    assert code == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and f"cannot reach a Ray cluster at '{address}'" in said[0], said
    assert "Traceback" not in said[0]
    assert elapsed < _PATIENCE_S
    assert not out.exists()  # no empty output folder left behind


def test_ray_address_from_the_environment_is_checked_too(monkeypatch):
    address = f"127.0.0.1:{_unused_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    with pytest.raises(UserError, match="cannot reach a Ray cluster"):
        check_reachable("auto")
    monkeypatch.delenv("RAY_ADDRESS")
    check_reachable("auto")  # left to Ray: the cluster `ray start` joined here
    check_reachable("local")


def test_a_listening_head_passes_and_a_malformed_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as head:
        head.bind(("127.0.0.1", 0))
        head.listen()
        check_reachable(f"127.0.0.1:{head.getsockname()[1]}")
        check_reachable(f"ray://127.0.0.1:{head.getsockname()[1]}")
    for wrong in ("head-node", "head:port", "head:70000", ":6379"):
        with pytest.raises(UserError, match="expected local, auto or HOST:PORT"):
            check_reachable(wrong)
