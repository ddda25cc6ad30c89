"""The cluster manifest's record and fingerprint, word for word (README: "rtmatte-manifest.json
in the output folder records each finished file"; the redo rules themselves are in
test_cluster_manifest.py): the model counts by its content, not its name; a record keeps the
frames, the seconds and when it finished; only a recorded output is the batch's own."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from rtmatte.cluster.manifest import MANIFEST_NAME, Manifest, settings_fingerprint
from rtmatte.errors import OutputError
from rtmatte.run.offline import JobResult
from rtmatte.settings import load_settings

MODEL = "ab" * 32


def _finished(tmp_path: Path, seconds: float = 1.234567) -> tuple[Path, Path, Manifest]:
    source, target = tmp_path / "in.mp4", tmp_path / "out" / "in.mp4"
    target.parent.mkdir()
    source.write_bytes(b"input" * 10)
    target.write_bytes(b"output" * 7)
    manifest = Manifest(target.parent)
    manifest.add(JobResult(input=str(source), output=str(target), kind="video", frames=48,
                           seconds=seconds, backend="onnx", downsample_ratio=0.5),
                 "f" * 16, "node7")
    manifest.save()
    return source, target, manifest


def test_the_model_counts_by_its_content_not_its_name(tmp_path: Path) -> None:
    by_name = load_settings(overrides={"model": "rvm-mobilenetv3"})
    by_path = dataclasses.replace(by_name, model="my-copy", model_path=tmp_path / "rvm.onnx")
    assert settings_fingerprint(by_name, MODEL) == settings_fingerprint(by_path, MODEL)
    assert settings_fingerprint(by_name, MODEL) != settings_fingerprint(by_name, "cd" * 32)
    assert len(settings_fingerprint(by_name, MODEL)) == 16


def test_a_record_keeps_frames_seconds_host_and_when(tmp_path: Path) -> None:
    before = time.time()
    _, target, _ = _finished(tmp_path)
    data = json.loads((target.parent / MANIFEST_NAME).read_text())
    assert data["version"] == 1
    (record,) = data["files"]
    assert record["frames"] == 48 and record["seconds"] == 1.2346 and record["host"] == "node7"
    finished = datetime.strptime(record["finished"], "%Y-%m-%dT%H:%M:%S%z")
    assert before - 2 <= finished.timestamp() <= time.time() + 1


def test_only_a_recorded_output_is_the_batchs_own(tmp_path: Path) -> None:
    _, target, manifest = _finished(tmp_path)
    assert manifest.owns(target) and manifest.owns(target.parent / "." / target.name)
    assert not manifest.owns(target.parent / "other.mp4")
    assert Manifest(target.parent).owns(target)  # read back from the file


def test_a_manifest_that_cannot_be_read_says_how_to_start_afresh(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(OutputError) as refused:
        Manifest(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / MANIFEST_NAME} is not a manifest rtmatte can read (")
    assert message.endswith("); move it away to start the batch afresh")
