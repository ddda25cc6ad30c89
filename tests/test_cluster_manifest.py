"""The cluster manifest's redo rules, without Ray: the manifest and the planning that reads it are
plain Python, so these run in the default suite.

A rerun skips a file only while its record still holds: same input (path, size, modification
time), same settings and model (one fingerprint), the output still there with its size. Each
test below breaks one of those and checks that the file is planned again, through the driver's
own planning (the function ``--ray`` uses), not a copy of the rule.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from rtmatte.cluster.manifest import MANIFEST_NAME, Manifest, Record, settings_fingerprint
from rtmatte.cluster.plan import ClusterOptions
from rtmatte.cluster.plan import plan_work as _plan
from rtmatte.cluster.pool import Batch as _Batch
from rtmatte.errors import OutputError
from rtmatte.run.offline import JobResult
from rtmatte.settings import load_settings

MODEL = "0" * 64


def _settings(**values):
    return load_settings(overrides={"backend": "onnx", "bg": "#00b140", **values})


def _finished(tmp_path: Path, names=("a", "b")) -> tuple[list[tuple[Path, Path]], str]:
    """Inputs and outputs (their bytes do not matter to the manifest), recorded as done with
    the default settings, and the manifest saved to the output folder as a run leaves it."""
    (tmp_path / "in").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    pairs = []
    for name in names:
        source, target = tmp_path / "in" / f"{name}.mp4", tmp_path / "out" / f"{name}.mp4"
        source.write_bytes(b"input " + name.encode() * 100)
        target.write_bytes(b"output " + name.encode() * 50)
        pairs.append((source, target))
    fingerprint = settings_fingerprint(_settings(), MODEL)
    manifest = Manifest(tmp_path / "out")
    for source, target in pairs:
        manifest.add(JobResult(input=str(source), output=str(target), kind="video", frames=48,
                               seconds=1.5, backend="onnx", downsample_ratio=0.5),
                     fingerprint, "node1")
    manifest.save()
    return pairs, fingerprint


def _planned(pairs, fingerprint: str, force: bool = False, settings=None) -> list[str]:
    """Names of the inputs a rerun would do again, read from the manifest file afresh."""
    manifest = Manifest(pairs[0][1].parent)
    said: list[str] = []
    tasks, _ = _plan(pairs, manifest, fingerprint, settings or _settings(),
                     ClusterOptions(force=force), _Batch(), said.append)
    return [task.source.name for task in tasks]


def test_unchanged_files_are_skipped_and_said(tmp_path):
    pairs, fingerprint = _finished(tmp_path)
    manifest = Manifest(tmp_path / "out")
    said: list[str] = []
    tasks, _ = _plan(pairs, manifest, fingerprint, _settings(), ClusterOptions(), _Batch(),
                     said.append)
    assert tasks == []
    assert said == [f"2 of 2 files already done ({tmp_path / 'out' / MANIFEST_NAME}); --force "
                    "does them again"]
    assert _planned(pairs, fingerprint, force=True) == ["a.mp4", "b.mp4"]


def test_other_settings_or_model_redo_every_file(tmp_path):
    pairs, fingerprint = _finished(tmp_path)
    for changed in (_settings(bg="#ff0000"), _settings(downsample_ratio=0.25),
                    _settings(crf=23)):
        other = settings_fingerprint(changed, MODEL)
        assert other != fingerprint
        assert _planned(pairs, other, settings=changed) == ["a.mp4", "b.mp4"]
    other_model = settings_fingerprint(_settings(), "1" + MODEL[1:])
    assert _planned(pairs, other_model) == ["a.mp4", "b.mp4"]
    # --overwrite decides only whether a name may be replaced: not a new output
    assert settings_fingerprint(_settings(overwrite=True), MODEL) == fingerprint
    assert _planned(pairs, fingerprint) == []


def test_a_changed_input_is_redone(tmp_path):
    pairs, fingerprint = _finished(tmp_path)
    source_a = pairs[0][0]
    status = os.stat(source_a)
    source_a.write_bytes(source_a.read_bytes() + b"more")  # new size, the old time put back
    os.utime(source_a, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert _planned(pairs, fingerprint) == ["a.mp4"]

    pairs, fingerprint = _finished(tmp_path / "again")
    source_b = pairs[1][0]
    status = os.stat(source_b)
    os.utime(source_b, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert os.stat(source_b).st_size == status.st_size  # same size, rewritten later
    assert _planned(pairs, fingerprint) == ["b.mp4"]


def test_a_deleted_or_changed_output_is_redone(tmp_path):
    pairs, fingerprint = _finished(tmp_path, names=("a", "b", "c"))
    pairs[0][1].unlink()
    pairs[2][1].write_bytes(b"cut short")
    assert _planned(pairs, fingerprint) == ["a.mp4", "c.mp4"]


def test_a_record_of_another_input_does_not_count(tmp_path):
    """The output name alone is not enough: the record must name this very input."""
    pairs, fingerprint = _finished(tmp_path)
    other = tmp_path / "in" / "elsewhere.mp4"
    other.write_bytes(pairs[0][0].read_bytes())
    os.utime(other, ns=(os.stat(pairs[0][0]).st_atime_ns, os.stat(pairs[0][0]).st_mtime_ns))
    assert _planned([(other, pairs[0][1]), pairs[1]], fingerprint) == ["elsewhere.mp4"]


def test_a_manifest_rtmatte_cannot_read_stops_with_one_line(tmp_path):
    _finished(tmp_path)
    path = tmp_path / "out" / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["files"][0].pop("settings")
    path.write_text(json.dumps(data))
    with pytest.raises(OutputError, match="not a manifest rtmatte can read"):
        Manifest(tmp_path / "out")


def test_the_record_keeps_what_the_rules_compare(tmp_path):
    pairs, fingerprint = _finished(tmp_path, names=("a",))
    (record,) = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["files"]
    source, target = pairs[0]
    assert record["input"] == str(source) and record["output"] == str(target)
    assert record["input_size"] == os.stat(source).st_size
    assert record["input_mtime_ns"] == os.stat(source).st_mtime_ns
    assert record["output_size"] == os.stat(target).st_size
    assert record["settings"] == fingerprint and record["host"] == "node1"
    assert set(record) == {f.name for f in dataclasses.fields(Record)}
