"""The README's shell examples, run top to bottom as written, as a newcomer would paste them.

Which lines are examples: every line of a fenced block with no language (or ``sh``, ``bash``,
``shell``) is one command; a line ending in ``\\`` goes on on the next, and a line that is
only a comment belongs to the command above it. ``python`` blocks are not shell examples.

Each command runs as a whole ``rtmatte`` process of this virtual environment, in order, in one
empty folder where the demo's sample clip (``rtmatte demo --keep-clip``), its generated sunset
and the bundled portrait stand in for the user's files (:data:`STAND_INS`): file names are
substituted by what they stand for, flags never. Every command must exit 0 and leave what it
names (``-o``, the default ``NAME.rtmatte.EXT``, ``--alpha-output``, ``--stats``), so an example
that collides with an earlier one ("already exists") or is broken fails here. Those that cannot
run here are in :data:`NOT_RUN`, each with its reason; ``--ray local`` ones run in the ``ray``
suite only (``python -m pytest -m ray``), as they start a local Ray cluster.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import cv2
import pytest

from rtmatte.samples import sunset_background

README = Path(__file__).resolve().parents[1] / "README.md"
RTMATTE = str(Path(sys.executable).with_name("rtmatte"))
SHELL_FENCES = {"", "sh", "bash", "shell"}

#: commands not run here (exactly as the README writes them, its comment left out), and why
NOT_RUN = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && rtmatte demo":
        "makes the environment this test runs in; the demo runs below, for the stand-ins",
    "bash .ci/run": "runs the whole suite, this test in it",
    "rtmatte clips/ --bg office.jpg -o out_ray/ --ray head:6379":
        "needs a Ray cluster already running at head:6379",
    "rtmatte camera --bg beach.jpg --vcam": "needs a camera and a virtual camera",
    "rtmatte camera:1 --bg blur --vcam --size 1280x720 --fps 30": "needs two cameras",
    "rtmatte /dev/video0 --bg office.mp4 --vcam --preview": "needs a camera and a display",
    'rtmatte camera --bg "#00b140" --vcam': "needs a camera and a virtual camera",
    "rtmatte camera --bg beach.jpg -o recording.mp4": "needs a camera",
    "rtmatte camera --vcam --keep largest": "needs a camera and a virtual camera",
    "rtmatte serve": "a server, which runs until it is stopped (tests/test_server.py)",
    'rtmatte serve --port 8000 --token "$TOKEN" --source talk.mp4':
        "a server, which runs until it is stopped (tests/test_server.py)",
    'curl -H "Authorization: Bearer $TOKEN" -F file=@portrait.jpg -F bg=transparent '
    "http://127.0.0.1:7860/api/remove -o portrait.png": "needs the server above running",
    'curl -H "Authorization: Bearer $TOKEN" -F file=@talk.mp4 -F bg=blur '
    "http://127.0.0.1:7860/api/jobs": "needs the server above running",
    "rtmatte models fetch rvm-resnet50": "downloads 100 MB from GitHub",
    "rtmatte models fetch rvm-mobilenetv3-fp16": "downloads from GitHub",
    "rtmatte models export rvm_1080p.onnx --ratio 0.25 --size 1920x1080 --fp16":
        "a minute of PyTorch export on a loaded CPU; tests/test_first_hour.py exports and runs "
        "such a graph",
}
#: the user's files the examples name, and what stands in for each
STAND_INS = {
    "talk.mp4": "clip", "meeting.mp4": "clip", "lecture.mp4": "clip", "office.mp4": "clip",
    "beach.jpg": "sunset", "office.jpg": "sunset", "portrait.jpg": "portrait",
    "clips/talk.mp4": "clip", "clips/portrait.jpg": "portrait",
}


def shell_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Each shell block of the README with the heading it stands under, and its commands in
    order, their comments left out."""
    blocks: list[tuple[str, list[str]]] = []
    heading, fence, pending = "", None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            if fence in SHELL_FENCES:
                blocks.append((heading, []))
            continue
        if fence is None and line.startswith("#"):
            heading = line.lstrip("#").strip()
        if fence not in SHELL_FENCES or not line.strip() or line.lstrip().startswith("#"):
            continue
        pending += line.strip() if pending else line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip() + " "
            continue
        blocks[-1][1].append(_without_comment(pending))
        pending = ""
    return blocks


def shell_examples(text: str) -> list[str]:
    """Every command of the README's shell blocks, in order."""
    return [command for _, commands in shell_blocks(text) for command in commands]


def _without_comment(line: str) -> str:
    """``line`` up to its ``#`` comment (a ``#`` inside quotes, as in ``"#00b140"``, stays)."""
    for match in re.finditer(r"\s#", line):
        try:
            shlex.split(line[:match.start()])
        except ValueError:  # the # is inside quotes
            continue
        return line[:match.start()].strip()
    return line.strip()


def make_stand_ins(folder: Path) -> None:
    """The demo's own sample clip, kept by ``rtmatte demo --keep-clip`` (a short one: what
    matters is how the commands meet, not how long they run), its sunset, the portrait."""
    done = _run(["rtmatte", "demo", "--keep-clip", "--frames", "8", "-o", "demo.mp4"], folder)
    assert done.returncode == 0, done.stderr
    made = {"clip": folder / "demo-input.mp4", "sunset": folder / "sunset.jpg",
            "portrait": folder / "portrait-sample.jpg"}
    cv2.imwrite(str(made["sunset"]), cv2.cvtColor(sunset_background(640, 360),
                                                  cv2.COLOR_RGB2BGR))
    made["portrait"].write_bytes(
        resources.files("rtmatte.samples").joinpath("astronaut.jpg").read_bytes())
    for name, kind in STAND_INS.items():
        (folder / name).parent.mkdir(exist_ok=True)
        shutil.copyfile(made[kind], folder / name)
    for path in made.values():
        path.unlink()
    (folder / "demo.mp4").unlink()


def _run(words: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    assert words[0] == "rtmatte", words
    return subprocess.run([RTMATTE, *words[1:]], cwd=folder, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def promised(words: list[str], folder: Path) -> list[Path]:
    """What a command says it writes: ``-o``, or ``NAME.rtmatte.EXT`` beside a file input run
    without one, the first picture of ``--alpha-output``, ``--stats``."""
    flags = dict(zip(words, [*words[1:], ""], strict=True))
    found = []
    if "-o" in flags:
        found.append(folder / flags["-o"])
    elif len(words) > 1 and (folder / words[1]).is_file() and "--realtime" not in words:
        source = Path(words[1])
        found.append(folder / f"{source.stem}.rtmatte{source.suffix}")
    if "--alpha-output" in flags:
        found.append(folder / (flags["--alpha-output"] % 1))
    if "--stats" in flags:
        found.append(folder / flags["--stats"])
    return found


def run_in_order(folder: Path, with_ray: bool) -> list[str]:
    """Run every example that can run here, in the README's order; returns those run."""
    make_stand_ins(folder)
    ran = []
    for command in shell_examples(README.read_text()):
        if command in NOT_RUN:
            continue
        words = shlex.split(command)
        if "--ray" in words and not with_ray:
            continue
        done = _run(words, folder)
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stderr}"
        for path in promised(words, folder):
            assert path.exists() and (path.is_file() or any(path.iterdir())), \
                f"{command}: {path.name} is missing\n{done.stderr}"
        ran.append(command)
    return ran


def test_the_reading_rule_finds_the_examples_and_every_one_not_run_is_there() -> None:
    blocks = dict(shell_blocks(README.read_text()))
    assert len(blocks["Quickstart"]) == 2  # the quickstart stays two commands
    commands = shell_examples(README.read_text())
    assert commands[0] == "rtmatte talk.mp4 --bg beach.jpg -o talk_beach.mp4"
    assert 'rtmatte talk.mp4 --bg "#00b140" -o talk_green.mp4' in commands
    assert any(command.endswith("-F bg=transparent http://127.0.0.1:7860/api/remove -o "
                                "portrait.png") for command in commands)  # joined at the \\
    stale = [command for command in NOT_RUN if command not in commands]
    assert stale == [], "NOT_RUN names commands the README no longer has"
    for command in commands:  # every example is run, or said why not
        words = shlex.split(command)
        assert command in NOT_RUN or words[0] == "rtmatte", command
        if words[0] == "rtmatte" and len(words) > 1 and not words[1].startswith("-"):
            assert words[1] in {"demo", "models", "doctor", "bench", "serve"} \
                or words[1].rstrip("/") in {n.split("/")[0] for n in STAND_INS} \
                or command in NOT_RUN, f"{command}: no stand-in for {words[1]}"


def test_the_readme_examples_run_in_order(model_file: Path, tmp_path: Path) -> None:
    ran = run_in_order(tmp_path, with_ray=False)
    assert len(ran) >= 15, ran


@pytest.mark.ray
def test_the_readme_examples_run_in_order_with_ray(model_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    ran = run_in_order(tmp_path, with_ray=True)
    assert sum("--ray" in command for command in ran) == 2, ran
