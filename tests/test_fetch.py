"""Model fetch: sha256 always verified, nothing unverified ever lands in the cache."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from rtmatte.errors import ModelError
from rtmatte.matting.models import fetch
from rtmatte.matting.models.catalogue import get_model, load_catalogue


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMATTE_HOME", str(tmp_path))
    return tmp_path / "models"


def test_catalogue_lists_the_official_model_with_its_checksum() -> None:
    entry = get_model("rvm-mobilenetv3")
    assert entry.sha256 == "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
    assert entry.default and entry.verifiable
    assert {m.id for m in load_catalogue()} >= {"rvm-mobilenetv3", "rvm-resnet50"}


def test_a_corrupt_cached_file_is_replaced_by_a_verified_one(home, model_file) -> None:
    entry = get_model("rvm-mobilenetv3")
    home.mkdir(parents=True)
    (home / entry.file).write_bytes(b"truncated download")
    notes: list[str] = []
    path = fetch.ensure_model("rvm-mobilenetv3", notify=notes.append)
    assert fetch.sha256_of(path) == entry.sha256
    assert any("fails its checksum" in note for note in notes)
    assert not list(home.glob(".fetch-*"))


def test_a_download_that_fails_its_checksum_is_never_kept(home) -> None:
    entry = dataclasses.replace(get_model("rvm-mobilenetv3"), sha256="0" * 64)
    with pytest.raises(ModelError, match="does not match"):
        fetch.fetch_entry(entry)
    assert not (home / entry.file).exists()
    assert not [p for p in home.iterdir()]


def test_a_model_without_checksum_is_refused(home) -> None:
    entry = dataclasses.replace(get_model("rvm-resnet50"), sha256="")
    with pytest.raises(ModelError, match="no recorded sha256"):
        fetch.fetch_entry(entry)
    assert not home.exists() or not list(home.iterdir())


def test_every_catalogue_entry_can_be_verified() -> None:
    for entry in load_catalogue():
        assert entry.verifiable, entry.id
        assert entry.url.startswith("https://") and entry.url.endswith(entry.file)


def test_models_list_and_fetch_commands(home, model_file, capsys) -> None:
    from rtmatte.cli import main

    home.mkdir(parents=True)
    shutil.copy(model_file, home / model_file.name)
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "rvm-mobilenetv3" in listing and "fetched" in listing
    assert main(["models", "fetch", "rvm-unknown"]) == 2


def test_output_piped_into_a_reader_that_stops_early_is_no_error(home) -> None:
    """`rtmatte models list | head -1`: the pipe closes under us, and that is the reader's
    choice, not a failure to report."""
    import subprocess
    import sys

    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # a long listing, so the write outlives the reader
    script = ("import sys; from rtmatte.cli import main; "
              "sys.exit(max(main(['models', 'list']) for _ in range(2000)))")
    listing = subprocess.run([sys.executable, "-c", script], stdout=reader.stdin,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    reader.stdin.close()
    reader.wait(timeout=10)
    assert listing.stderr == ""
    assert listing.returncode == 141
