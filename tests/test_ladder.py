"""The live ladder's controller on a simulated clock: where it settles, and that a stall or a
slightly slower machine does not send it to the bottom of the ladder (the 960x540 "collapse",
docs/live-cpu.md). No model runs here: run times come from the per-rung costs measured on the
live path's single thread, so every figure is deterministic."""

from __future__ import annotations

import math
import random

from rtmatte.matting.ladder import MEASURED, AdaptiveResolution, ladder_for, rank

INTERVAL = 1 / 30
#: one model run (model + post chain) at each internal size, 960x540, one thread, quiet-ish
#: machine (docs/live-cpu.md, "One model run")
COST_960_MS = {480: 122, 384: 86, 320: 60, 256: 28, 224: 23, 192: 22, 160: 21, 128: 16}
CARRY_MS = 6.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rung_names(control: AdaptiveResolution) -> list[str]:
    return [f"{r.internal}/{r.every}" for r in control.rungs]


def play(seed: int, slower: float, stall_chance: float, frames: int = 120) -> AdaptiveResolution:
    """One live round as the live path runs it: 7 warm-up runs on grey frames at the top rung
    (LivePacer.prepare), then ``frames`` frames at 30 fps, the newest frame winning. A model run
    costs the measured time times ``slower`` (another program on the core), ±8 % noise, and with
    ``stall_chance`` a stall of 3-8 times as long."""
    rng = random.Random(seed)
    clock = Clock()
    control = AdaptiveResolution(ladder_for(540, 960), INTERVAL, clock=clock)

    def run_ms() -> float:
        ms = COST_960_MS[control.rung.internal] * slower * rng.lognormvariate(0.0, 0.08)
        return ms * rng.uniform(3.0, 8.0) if rng.random() < stall_chance else ms

    for _ in range(7):  # each reaches the model; the time a frame is the run's / cadence
        seconds = run_ms() / 1e3
        control.observe(seconds / control.rung.every)
        clock.now += seconds
    start = clock.now
    index, count, lost = 0, 0, 0
    while index < frames:
        clock.now = max(clock.now, start + index * INTERVAL)
        newest = min(frames - 1, math.floor((clock.now - start) / INTERVAL + 1e-9))
        lost += newest - index
        count += 1
        every = control.rung.every
        if (count - 1) % every == 0:
            seconds = run_ms() / 1e3
            control.observe(seconds / every, lost)
            lost = 0
        else:
            seconds = CARRY_MS / 1e3
        clock.now += seconds
        index = newest + 1
    return control


def collapsed(control: AdaptiveResolution) -> bool:
    """Ended at 192 px or below, where MAD is 1.7-2.4 times the rungs at 256-320 px."""
    return control.rung.internal <= 192


def test_a_stall_just_after_a_move_does_not_decide_the_next_jump() -> None:
    clock = Clock()
    control = AdaptiveResolution(ladder_for(540, 960), INTERVAL, clock=clock)
    control.index = rung_names(control).index("320/2")
    for _ in range(8):  # 25 ms a frame: fits
        control.observe(0.025)
        clock.now += 2 * INTERVAL
    while control.rung.internal == 320:  # the machine gets a little slower: one step down
        control.observe(0.034)
        clock.now += 2 * INTERVAL
    settled = control.index
    assert control.rung.internal == 256
    for seconds in (0.015, 0.015, 0.500):  # two settling runs, then the first timed one stalls
        control.observe(seconds)
        clock.now += 2 * INTERVAL
    assert control.index == settled  # one stall moves the average as little as any later one
    for _ in range(12):  # the machine really is much slower here: the size follows
        control.observe(0.045)
        clock.now += 2 * INTERVAL
    assert control.index > settled


def test_a_slower_machine_settles_where_the_rungs_really_fit() -> None:
    # every run 1.5 times the measured cost, no stalls: 256 px every 2nd frame (42 ms a run)
    # fits. The square law alone promised 192/2 room it lacks (the fixed part of a run does not
    # shrink), so a step down measured slow again and went on down in 30 % of the rounds
    rounds = [play(seed, slower=1.5, stall_chance=0.0) for seed in range(200)]
    assert sum(map(collapsed, rounds)) == 0, sorted({rung_names(c)[c.index] for c in rounds})


def test_stalls_do_not_send_the_960x540_ladder_to_the_bottom() -> None:
    # one model run in 33 stalls (3-8 times as long): before, a stall in the first run timed at
    # a rung (at the start or just after a move) was taken whole, and one round in ten ended at
    # 192/2 or below, where it stays (up is one rung per 2 s, not into a rung just left)
    rounds = [play(seed, slower=1.0, stall_chance=0.03) for seed in range(200)]
    assert sum(map(collapsed, rounds)) <= 1, sorted({rung_names(c)[c.index] for c in rounds})


def test_rungs_are_ranked_by_the_worse_of_their_two_scores() -> None:
    # the real talking-head clip: every 2nd frame carried MAD 0.84-1.09x but dtSSD
    # 1.35x; every frame smaller dtSSD 1.15x but MAD 1.40-1.59x. The worse score decides
    carried, smaller = (384, 2), (256, 1)
    assert rank(({carried: (1.0, 1.35), smaller: (1.5, 1.15)},))[0] == carried
    assert rank(({carried: (1.0, 1.35), smaller: (1.2, 1.15)},))[0] == smaller
    # a rung within the goal (1.1x) on both comes before one over it on either
    assert rank(({(384, 2): (0.95, 1.12), (320, 1): (1.08, 1.09)},))[0] == (320, 1)
    # a rung another no bigger and run no more often matches costs more for nothing
    assert rank(({(256, 1): (2.1, 1.3), (256, 2): (1.9, 1.5), (224, 1): (3.0, 1.5),
                  (224, 2): (3.0, 1.7)},)) == ((256, 2), (224, 2))
    # over several clips the worse scores are averaged; a rung measured on one clip only is out
    two = ({(320, 2): (1.6, 1.4), (256, 1): (2.5, 1.5), (224, 1): (3.0, 1.6)},
           {(320, 2): (1.4, 1.4), (256, 1): (1.6, 1.3)})
    assert rank(two) == ((320, 2), (256, 1))


def test_the_ladder_follows_the_measured_ranking_below_the_full_size() -> None:
    rungs = ladder_for(540, 960)
    assert (rungs[0].internal, rungs[0].every) == (480, 1)
    top = rungs[0].internal
    assert [(None if r.internal == top else r.internal, r.every) for r in rungs[1:]] == list(
        rank(MEASURED))
    assert [(r.internal, r.every) for r in rungs[1:]] == [
        (r.internal, r.every) for r in ladder_for(720, 1280)[1:]]


def test_going_up_skips_a_better_rung_that_costs_more_than_one_above_it() -> None:
    # at 320/2 with half the budget used, 320/1 (every frame: twice the cost a frame) does not
    # fit; 384/2 above it does (1.4 times the cost a run, as often)
    clock = Clock()
    control = AdaptiveResolution(ladder_for(540, 960), INTERVAL, clock=clock)
    names = rung_names(control)
    assert names.index("384/2") + 1 == names.index("320/1") == names.index("320/2") - 1
    control.index = names.index("320/2")
    while clock.now < 3.0 and control.index == names.index("320/2"):
        control.observe(0.5 * INTERVAL)
        clock.now += 2 * INTERVAL
    assert names[control.index] == "384/2"
