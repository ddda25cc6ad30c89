"""Mutation testing of the modules that carry rtmatte's promises: would the tests notice?

mutmut (``pip install mutmut``, 3.x) makes many small changes ("mutants") to a module, one at a
time, and runs the tests that cover it; a mutant the tests still pass on ("survived") is a way
the code could break unnoticed. Each module here is run against only the tests that guard it,
so a run takes minutes, not hours, and the score per module is printed:

    python tools/mutation.py                          # every module below, one after another
    python tools/mutation.py rtmatte/post/temporal.py # one module
    python tools/mutation.py --rev HEAD --jobs 1      # the committed tree, one worker

Each module runs in a scratch copy of the tree (the working tree, or ``--rev``), so nothing in
the checkout is touched and mutmut's ``mutants/`` folder never lands in it. Kept out of
``.ci/run``: on 2 shared cores the five main modules take about 25 minutes. The scores, and
why the equivalent mutants listed in :data:`EQUIVALENT` cannot be killed, are in
docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    """A module to mutate, the tests that guard it, and (optionally) only some of its
    functions: for a module whose other parts need the model and a video to reach."""

    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()
    #: "forkserver" where the tests start threads a forked worker cannot inherit (the server)
    isolation: str = "fork"

    @property
    def dotted(self) -> str:
        return self.module.removesuffix(".py").replace("/", ".")

    def patterns(self) -> list[str]:
        """mutmut's names for the mutants to run (all of the module's when no functions)."""
        if not self.functions:
            return []
        return [f"{self.dotted}.{name}__mutmut_*" for name in self.mangled()]

    def mangled(self) -> list[str]:
        # mutmut names a function f as x_f, a method C.m as xǁCǁm
        return [f"xǁ{name.replace('.', 'ǁ')}" if "." in name else f"x_{name}"
                for name in self.functions]


TARGETS: dict[str, Target] = {t.module: t for t in (
    Target("rtmatte/sinks/alpha.py", ("tests/test_alpha_exact.py",)),
    Target("rtmatte/post/temporal.py", ("tests/test_temporal_gates.py",)),
    Target("rtmatte/post/keep.py", ("tests/test_keep_memory.py",)),
    Target("rtmatte/compose/compositor.py",
           ("tests/test_compositor.py", "tests/test_compose_exact.py")),
    Target("rtmatte/sinks/atomic.py", ("tests/test_staging.py",)),
    Target("rtmatte/run/offline.py", ("tests/test_planning.py",),
           ("default_output", "plan_inputs", "_identity", "_folder_pairs")),
    Target("rtmatte/cluster/manifest.py",
           ("tests/test_cluster_manifest.py", "tests/test_manifest_record.py")),
    Target("rtmatte/server/auth.py",
           ("tests/test_server_host.py", "tests/test_server.py", "-k",
            "token or route or cross_site or docs or host or origin or cookie or warned"),
           isolation="forkserver"),
)}

#: mutants no test can kill, because the program behaves the same with them; keyed by mutmut's
#: name (valid for the source as it is: a changed module renumbers them), with the reason
_T = "rtmatte.post.temporal.xǁTemporalSmootherǁ"
_K = "rtmatte.post.keep.xǁKeepPersonǁ"
_C = "rtmatte.compose.compositor.xǁCompositorǁ"
_A = "rtmatte.sinks.alpha.xǁAlphaSequenceSinkǁ"
_P = "rtmatte.sinks.alpha.xǁFramePatternǁ"
_F = "rtmatte.cluster.manifest.x_settings_fingerprint__mutmut_"
_M = "rtmatte.cluster.manifest.xǁManifestǁ"
_S = "rtmatte.sinks.atomic."
EQUIVALENT: dict[str, str] = {
    f"{_T}reset__mutmut_1": "_grey and _alpha are only ever None together, so either None "
                            "check alone makes a fresh start",
    f"{_T}reset__mutmut_2": "the same: _grey is None whenever _alpha is",
    f"{_T}__call____mutmut_6": "'or' to 'and' between the two None checks: they are both None "
                               "or neither",
    f"{_T}__call____mutmut_18": "cv2.dilate's default kernel (None) is the same 3x3 square",
    f"{_T}__call____mutmut_22": "the 3x3 kernel as float64 instead of uint8: same nonzero cells",
    f"{_T}__call____mutmut_24": "the same, NumPy's default dtype",
    f"{_T}__call____mutmut_42": "cv2.resize's default interpolation is INTER_LINEAR",
    f"{_T}__call____mutmut_45": "the same, the argument left out",
    f"{_T}__call____mutmut_52": "clip's upper bound None instead of 1: 1 - |delta|/0.3 never "
                                "exceeds 1",
    f"{_T}__call____mutmut_64": "upper bound 2 instead of 1: the same",
    f"{_T}_small_grey__mutmut_24": "a 1-pixel-wide frame's small copy 2 pixels wide: both "
                                   "columns are the same, so is the gate",
    f"{_T}_small_grey__mutmut_31": "the same for a 1-pixel-tall frame",
    f"{_T}_small_grey__mutmut_34": "the small grey copy as float64 instead of float32: the "
                                   "alpha written stays float32 and within 1e-7",
    **{f"{_K}__call____mutmut_{n}": "a 1-pixel-wide (or tall) frame's work copy 2 pixels "
       "wide: both columns are the same, so are the people" for n in (18, 25)},
    f"{_K}__call____mutmut_70": "GaussianBlur's kernel size None is (0, 0): sized from sigma",
    **{f"{_K}__call____mutmut_{n}": "cv2.resize's default interpolation is INTER_LINEAR"
       for n in (80, 83)},
    **{f"{_K}_choose__mutmut_{n}": "the frame's middle as an int array: halved, it is float "
       "all the same" for n in (20, 22)},
    f"{_K}reset__mutmut_2": "_chosen_once None instead of False: only ever read as a truth value",
    f"{_C}__call____mutmut_34": "harmonize >= 0 instead of > 0: a Harmonizer of strength 0 "
                                "returns the foreground unchanged",
    f"{_C}__call____mutmut_50": "light_wrap >= 0: light_wrap of strength 0 returns at once, and "
                                "the picture plus 0.5, truncated, is the picture",
    f"{_C}__call____mutmut_53": "the light-wrap buffer as float64 instead of float32: the same "
                                "picture once rounded to 8 bits",
    **{f"{_C}__call____mutmut_{n}": "a clip bound that is never reached: light wrap blends two "
       "pictures in 0-255, so lit + 0.5 stays in 0.5-255.5" for n in (65, 66, 73)},
    **{f"{_A}write__mutmut_{n}": "an int64 picture of 255s: OpenCV falls back to 8 bits and "
       "writes the same PNG, byte for byte" for n in (5, 8)},
    f"{_P}__init____mutmut_1": "FramePattern.text is read by nobody",
    f"{_P}__init____mutmut_13": "slicing from None is slicing from 0",
    f"{_P}__init____mutmut_40": "a %d field's width 1 instead of 0: the regex takes max(width, 1)",
    f"{_P}__init____mutmut_62": "frame 2's name has frame 1's extension",
    f"{_F}11": "pop without a default: every key popped is a Settings field",
    **{f"{_F}{n}": "another spelling of the fingerprint's own formula (the model's key, sorted "
       "or field order, 17 hex digits): every fingerprint changes alike, so no rule can tell; "
       "only a manifest of an older version would be redone once"
       for n in (13, 14, 17, 20, 22, 24)},
    **{f"{_F}{n}": "json.dumps without default=str: with model_path popped every value left is "
       "plain JSON" for n in (18, 21)},
    **{f"{_M}save__mutmut_{n}": "the manifest's indentation: the same JSON"
       for n in (18, 20, 21)},
    **{f"{_S}x_clear_stale__mutmut_{n}": "the Windows guard: never true on the platforms the "
       "clean-up runs on" for n in (2, 3)},
    **{f"{_S}x_clear_stale__mutmut_{n}": "stat following links: shutil.rmtree refuses a link "
       "itself, so a link with a staging name survives all the same" for n in (16, 17)},
    **{f"{_S}x__keep_beside__mutmut_{n}": "the errno or file name of the error for 'every name "
       "up to -9999 is taken': the message shows its text alone" for n in (13, 15, 18, 21)},
    f"{_S}x_name_limit__mutmut_15": "the last fallback (no folder up to / answers pathconf) "
                                    "never runs where / exists",
    **{f"{_S}x_check_name__mutmut_{n}": "a name of 48 characters or fewer is at most 192 bytes: "
       "it can only be too long where a file system takes fewer, and none here does"
       for n in (9, 13, 14)},
}

#: how mutmut's statuses count: detected, or not
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


@dataclass
class Score:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)

    def count(self, *names: str) -> int:
        return sum(1 for status in self.statuses.values() if status in names)

    @property
    def equivalent(self) -> list[str]:
        return [name for name, status in self.statuses.items()
                if name in EQUIVALENT and status not in KILLED]

    @property
    def survivors(self) -> list[str]:
        return sorted(name for name, status in self.statuses.items()
                      if status not in KILLED and status != "skipped"
                      and name not in EQUIVALENT)

    @property
    def killed(self) -> int:
        return self.count(*KILLED)

    @property
    def judged(self) -> int:
        return len(self.statuses) - self.count("skipped") - len(self.equivalent)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.judged if self.judged else 0.0

    def row(self) -> str:
        return (f"| `{self.module}` | {len(self.statuses)} | {self.killed} | "
                f"{len(self.survivors)} | {len(self.equivalent)} | {self.percent:.1f} % |")


def copy_tree(destination: Path, rev: str | None) -> None:
    """The project's files into ``destination``: a commit's, or the working tree's (tracked
    and untracked, not ignored), so others' half-made changes can be left out with --rev."""
    if rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        return
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def configure(tree: Path, target: Target) -> None:
    """pyproject.toml's [tool.mutmut] with this module and its tests only."""
    pyproject = tree / "pyproject.toml"
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject.read_text())
    settings = {
        "source_paths": ["rtmatte"],
        "only_mutate": [target.module],
        "also_copy": ["models/", "configs/"],  # the model catalogue and the presets
        "pytest_add_cli_args_test_selection": list(target.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-x"],
        "process_isolation": target.isolation,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}"
                                     for key, value in settings.items()]
    pyproject.write_text(text.rstrip() + "\n" + "\n".join(lines) + "\n")


def mutmut(tree: Path, *args: str, quiet: bool = False) -> str:
    command = ["nice", "-n", "15", sys.executable, "-m", "mutmut", *args]
    done = subprocess.run(command, cwd=tree, text=True, capture_output=quiet,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed in {tree} ({done.returncode})"
                         + (f":\n{done.stdout}\n{done.stderr}" if quiet else ""))
    return done.stdout or ""


def run(target: Target, jobs: int, rev: str | None, keep: Path | None) -> Score:
    tree = Path(tempfile.mkdtemp(prefix="rtmatte-mutation-")) if keep is None else keep
    try:
        if not (tree / "pyproject.toml").exists():
            copy_tree(tree, rev)
        configure(tree, target)
        mutmut(tree, "run", "--max-children", str(jobs), *target.patterns())
        listing = mutmut(tree, "results", "--all", "true", quiet=True)
        score = Score(target.module)
        wanted = tuple(f"{target.dotted}.{name}__mutmut_" for name in target.mangled()) \
            or (f"{target.dotted}.",)
        for line in listing.splitlines():
            name, _, status = line.strip().rpartition(": ")
            if name.startswith(wanted):
                score.statuses[name] = status
        for name in score.survivors:
            print(mutmut(tree, "show", name, quiet=True))
        stale = [name for name in EQUIVALENT if score.statuses.get(name) in KILLED]
        if stale:
            print(f"listed as equivalent but killed (renumbered? recheck): {', '.join(stale)}")
        return score
    finally:
        if keep is None:
            shutil.rmtree(tree, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (1)")
    parser.add_argument("--rev", help="mutate this commit's tree instead of the working tree")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (mutmut "
                        "reuses its results there when run again; one module per folder)")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        parser.error(f"no tests are assigned to {', '.join(unknown)}; known: "
                     f"{', '.join(TARGETS)}")
    if args.keep and len(args.modules) != 1:
        parser.error("--keep works with one module at a time")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    scores = []
    for module in args.modules or TARGETS:
        started = time.monotonic()
        scores.append(run(TARGETS[module], args.jobs, args.rev, args.keep))
        print(f"{module}: {time.monotonic() - started:.0f} s")
    print("| module | mutants | killed | survived | equivalent | score |")
    print("|---|---|---|---|---|---|")
    for score in scores:
        print(score.row())
        for name in score.survivors:
            print(f"    survived: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
