"""``rtmatte serve --host``: the warning it prints, and the Host check that stays on when the
server listens on every address. The real command, bound for real, asked with raw requests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rtmatte.server.launch import serving

TOKEN = "host-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START_TIMEOUT_S = 90.0
WARNING = "other machines on the network can reach this server"


@pytest.fixture(scope="module")
def wildcard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The server on every address (0.0.0.0) with one extra name; yields its port and log once
    the API answers."""
    log = tmp_path_factory.mktemp("host") / "server.log"
    with serving(log, "--host", "0.0.0.0", "--allow-host", "MyBox.lan", token=TOKEN,
                 timeout_s=START_TIMEOUT_S) as served:
        yield served.port, log


def status_for(port: int, host: str, connect_to: str = "127.0.0.1") -> int:
    return httpx.get(f"http://{connect_to}:{port}/api/info", timeout=10,
                     headers={**AUTH, "Host": host}).status_code


def test_every_address_still_checks_the_host(wildcard):
    port, _ = wildcard
    for host in ("127.0.0.1", "localhost", "mybox.lan", "MYBOX.LAN"):
        assert status_for(port, f"{host}:{port}") == 200, host
    # DNS rebinding: a name of the attacker's resolved to this machine; addresses not ours
    for host in ("evil.example", "mybox.lan.evil.example", "10.255.255.1", "0.0.0.0"):
        assert status_for(port, f"{host}:{port}") == 403, host
    # the address a request reached is this machine's own, whatever interface it is
    assert status_for(port, f"127.0.0.2:{port}", connect_to="127.0.0.2") == 200
    assert status_for(port, f"127.0.0.3:{port}", connect_to="127.0.0.2") == 403


def test_listening_beyond_this_machine_is_warned_about(wildcard, tmp_path):
    _, log = wildcard
    said = log.read_text()
    assert f"warning: listening on 0.0.0.0: {WARNING}" in said, said
    quiet_log = tmp_path / "loopback.log"
    with serving(quiet_log, token=TOKEN, timeout_s=START_TIMEOUT_S,  # the default: 127.0.0.1
                 answering=False):
        pass  # it has printed what it says on start
    assert "warning" not in quiet_log.read_text(), quiet_log.read_text()


@pytest.mark.parametrize("name", ["http://mybox.lan", "mybox.lan:8080", "*.lan", "0.0.0.0", ""])
def test_allow_host_takes_a_name_alone(name):
    done = subprocess.run([sys.executable, "-m", "rtmatte.cli", "serve", "--port", "0",
                           "--allow-host", name], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--allow-host" in lines[0], done.stderr
